"""Redis or anvil restarted while compute jobs wait in the queue: they complete afterwards,
each once."""

from __future__ import annotations

import pytest
from e2e_harness import E2E, wait_for

from insitu.chain import AgreementStatus
from insitu.compute.buyer import request_compute
from insitu.worker import JobState


def _queue_jobs(e2e: E2E, count: int) -> list[bytes]:
    e2e.unit.stop(["celery"])
    agreements = [
        request_compute(
            e2e.market,
            e2e.consumer,
            e2e.datasets["bank"],
            e2e.algorithms["describe"].asset_id,
            {"k": 5},
        ).agreement_id
        for _ in range(count)
    ]
    ids = ["0x" + a.hex() for a in agreements]
    wait_for(
        lambda: all(
            (r := e2e.store.get(i)) is not None and r.state is JobState.QUEUED for i in ids
        ),
        15,
        lambda: [e2e.store.get(i) for i in ids],
        [e2e.unit],
    )
    return agreements


def _assert_done_once(e2e: E2E, agreements: list[bytes]) -> None:
    for agreement in agreements:
        assert e2e.status(agreement) is AgreementStatus.FULFILLED
        assert len(e2e.events("AgreementFulfilled", agreement)) == 1
        record = e2e.store.get("0x" + agreement.hex())
        assert record is not None and record.completions == 1


@pytest.mark.parametrize("service", ["redis", "anvil"])
def test_service_restart_with_queued_jobs(e2e: E2E, service: str) -> None:
    agreements = _queue_jobs(e2e, 2)
    height = e2e.market.w3.eth.block_number
    e2e.stack.restart(service)
    assert e2e.market.w3.eth.block_number >= height, "the chain did not survive the restart"
    e2e.unit.start(["celery"])
    e2e.wait_settled(agreements, timeout=60)
    _assert_done_once(e2e, agreements)
    # The listener survived the outage and still serves new purchases.
    fresh = request_compute(
        e2e.market,
        e2e.consumer,
        e2e.datasets["bank"],
        e2e.algorithms["describe"].asset_id,
        {"k": 5},
    ).agreement_id
    e2e.wait_settled([fresh], timeout=30)
    _assert_done_once(e2e, [fresh])
