"""Bad jobs are rejected on-chain with their reason, the buyer is refunded at once, and the
worker keeps serving: each test buys a bad job and a good one at the same time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from e2e_harness import E2E, PRICE, bank_frame

from insitu.chain import AccessMode, AgreementStatus
from insitu.compute.buyer import ComputeRejected, request_compute, wait_for_result
from insitu.compute.job_document import JobDocument
from insitu.compute.reasons import Reason
from insitu.crypto.ecies import public_key_from_private


def buy_raw(
    e2e: E2E, dataset: bytes, algorithm_asset: bytes, algorithm_hash: bytes, params: dict
) -> bytes:
    """A purchase built by hand, bypassing the SDK's pre-payment checks."""
    doc = JobDocument(
        "0x" + algorithm_asset.hex(), params, "0x" + public_key_from_private(e2e.consumer.key).hex()
    )
    creation, _ = e2e.market.buy(
        e2e.consumer, dataset, algorithm_hash=algorithm_hash, params=doc.to_json()
    )
    return creation.agreement_id


def _sdk(dataset: str, algorithm: str, params: dict) -> Callable[[E2E], bytes]:
    def buy(e2e: E2E) -> bytes:
        return request_compute(
            e2e.market,
            e2e.consumer,
            e2e.datasets[dataset],
            e2e.algorithms[algorithm].asset_id,
            params,
            validate=False,
        ).agreement_id

    return buy


def _tampered(e2e: E2E) -> bytes:
    algo = e2e.algorithms["tampered"]
    return buy_raw(e2e, e2e.datasets["bank"], algo.asset_id, algo.hash_bytes, {})


def _no_package_metadata(e2e: E2E) -> bytes:
    pub = e2e.market.publish(
        e2e.operator,
        {"name": "no package", "kind": "algorithm", "description": "metadata without its package"},
        price=0,
        mode=AccessMode.DOWNLOAD,
    )
    e2e.redis.set("e2e:no-package-asset", "0x" + pub.asset_id.hex())
    return buy_raw(e2e, e2e.datasets["bank"], pub.asset_id, e2e.algorithms["crash"].hash_bytes, {})


def _vanished_data(e2e: E2E) -> bytes:
    e2e.data_files["vanishing"].unlink()
    return _sdk("vanishing", "describe", {"k": 5})(e2e)


@dataclass(frozen=True)
class Case:
    buy: Callable[[E2E], bytes]
    reason: Reason
    message_has: str = ""


CASES = {
    "algorithm_not_allowed": Case(_sdk("open_bank", "describe", {"k": 5}), Reason.NOT_ALLOWED),
    "hash_mismatch": Case(_tampered, Reason.HASH_MISMATCH, "hashes to"),
    "bad_params": Case(
        _sdk("bank", "sklearn_train", {"target": 5}), Reason.BAD_PARAMS, "estimator"
    ),
    "crash": Case(_sdk("bank", "crash", {}), Reason.CRASHED),
    "memory_limit": Case(_sdk("bank", "hog", {}), Reason.MEMORY),
    "oversize_output": Case(_sdk("bank", "bloat", {}), Reason.OUTPUT_TOO_LARGE, "over the cap"),
    "malformed_metadata": Case(_no_package_metadata, Reason.BAD_METADATA, "package_cid"),
    "missing_data_file": Case(_vanished_data, Reason.DATA_MISSING, "does not exist"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_job_is_rejected_and_refunded_while_good_jobs_run(e2e: E2E, name: str) -> None:
    try:
        _check_case(e2e, name, CASES[name])
    finally:
        # The worker refuses to (re)start while a configured data file is missing.
        if not e2e.data_files["vanishing"].exists():
            bank_frame().to_csv(e2e.data_files["vanishing"], index=False)


def _check_case(e2e: E2E, name: str, case: Case) -> None:
    escrow, token = e2e.market.escrow, e2e.market.token.address
    refunds_before = escrow.withdrawable(e2e.consumer.address, token)

    bad = case.buy(e2e)
    good = request_compute(
        e2e.market,
        e2e.consumer,
        e2e.datasets["bank"],
        e2e.algorithms["describe"].asset_id,
        {"k": 5},
    ).agreement_id
    e2e.wait_settled([bad, good])

    assert e2e.status(bad) is AgreementStatus.REJECTED
    rejected = e2e.events("AgreementRejected", bad)
    assert [int(e["args"]["reason"]) for e in rejected] == [int(case.reason)]
    assert escrow.withdrawable(e2e.consumer.address, token) - refunds_before == PRICE
    with pytest.raises(ComputeRejected, match=rf"reason {case.reason.name}.*refunded {PRICE}"):
        wait_for_result(e2e.market, bad, e2e.consumer, timeout=5)

    letter = e2e.store.dead_letter("0x" + bad.hex())
    assert letter is not None and letter.reason_code == case.reason.name.lower()
    assert letter.hook_error is None
    assert case.message_has in letter.message
    if name == "missing_data_file":
        assert "0x" + e2e.datasets["vanishing"].hex() in letter.message
    if name == "malformed_metadata":
        assert e2e.redis.get("e2e:no-package-asset").decode() in letter.message

    # The worker kept serving: the good job bought alongside was delivered.
    assert e2e.status(good) is AgreementStatus.FULFILLED
    assert wait_for_result(e2e.market, good, e2e.consumer, timeout=5).load_json("stats.json")
