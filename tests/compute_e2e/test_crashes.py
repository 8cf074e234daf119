"""Crashes of the provider's processes: no paid job is lost, none is run or paid twice."""

from __future__ import annotations

import time

from e2e_harness import E2E, VISIBILITY_TIMEOUT, wait_for

from insitu.chain import AgreementStatus
from insitu.compute.buyer import request_compute, wait_for_result
from insitu.worker import JobState


def test_worker_sigkilled_mid_job_completes_once_and_is_fulfilled_once(e2e: E2E) -> None:
    request = request_compute(
        e2e.market, e2e.consumer, e2e.datasets["bank"], e2e.algorithms["slow"].asset_id, {}
    )
    job_id = "0x" + request.agreement_id.hex()
    wait_for(
        lambda: (r := e2e.store.get(job_id)) is not None and r.state is JobState.RUNNING,
        20,
        lambda: e2e.store.get(job_id),
        [e2e.unit],
    )
    time.sleep(0.5)  # inside the algorithm's 3 s sleep
    assert e2e.unit.kill("celery")
    assert e2e.status(request.agreement_id) is AgreementStatus.LOCKED
    killed_at = time.monotonic()
    e2e.unit.start(["celery"])
    e2e.wait_settled([request.agreement_id], timeout=90)

    assert e2e.status(request.agreement_id) is AgreementStatus.FULFILLED
    assert len(e2e.events("AgreementFulfilled", request.agreement_id)) == 1
    record = e2e.store.get(job_id)
    assert record is not None
    assert (record.state, record.completions, record.attempts) == (JobState.DONE, 1, 2)
    # Redelivery after the visibility timeout, plus the new process's warm-up (zygote imports,
    # keystore) on a possibly loaded 2-core machine.
    assert time.monotonic() - killed_at < 10 * VISIBILITY_TIMEOUT + 60
    result = wait_for_result(e2e.market, request.agreement_id, e2e.consumer, timeout=5)
    assert result.load_json("slow.json") == {"slept": 3}


def test_listener_killed_and_restarted_misses_and_duplicates_nothing(e2e: E2E) -> None:
    def buy() -> bytes:
        return request_compute(
            e2e.market,
            e2e.consumer,
            e2e.datasets["bank"],
            e2e.algorithms["describe"].asset_id,
            {"k": 5},
        ).agreement_id

    before = [buy()]
    e2e.wait_settled(before)
    assert e2e.unit.kill("listener")
    during = [buy() for _ in range(3)]
    time.sleep(0.5)
    assert all(e2e.store.get("0x" + a.hex()) is None for a in during)
    e2e.unit.start(["listener"])
    e2e.wait_settled(before + during)
    time.sleep(0.5)  # room for a duplicate to show up, if any
    for agreement in before + during:
        assert e2e.status(agreement) is AgreementStatus.FULFILLED
        assert len(e2e.events("AgreementFulfilled", agreement)) == 1
        record = e2e.store.get("0x" + agreement.hex())
        # attempts may exceed 1 after a transient RPC error; completions may not.
        assert record is not None and record.completions == 1
