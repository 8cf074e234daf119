"""A compute-to-data purchase end to end: buy → the provider's worker runs it → the buyer
decrypts a verified result. Real anvil, Redis, Celery worker and listener processes."""

from __future__ import annotations

import pytest
from e2e_harness import E2E, PRICE

from insitu.chain import AgreementStatus
from insitu.compute.buyer import request_compute, wait_for_result
from insitu.compute.errors import ResultError

TRAIN = {
    "estimator": "sklearn.linear_model.LogisticRegression",
    "target": "label",
    "features": ["f0", "f1", "f2"],
}


def test_direct_purchase_returns_decrypted_model_and_metrics(e2e: E2E, tmp_path) -> None:
    token = e2e.market.token
    provider_before = e2e.market.escrow.withdrawable(e2e.provider.address, token.address)
    request = request_compute(
        e2e.market,
        e2e.consumer,
        e2e.datasets["bank"],
        e2e.algorithms["sklearn_train"].asset_id,
        TRAIN,
    )
    progress: list[str] = []
    result = wait_for_result(
        e2e.market,
        request.agreement_id,
        e2e.consumer,
        timeout=60,
        dest=tmp_path / "result",
        on_progress=progress.append,
    )

    metrics = result.metrics()
    assert metrics["task"] == "classification"
    assert metrics["roc_auc"] > 0.9
    assert metrics["n_train"] + metrics["n_test"] == 400
    model = result.load_model()
    assert model.predict([[2.0, 1.0, 0.0]])[0] == 1
    assert set(result.files) == {"metrics.json", "model.pkl"}
    assert progress and progress[0].startswith("waiting")

    # On-chain proof of delivery and payment released to the provider.
    agreement = e2e.market.escrow.get(request.agreement_id)
    assert agreement.status is AgreementStatus.FULFILLED
    assert agreement.proves_result(result.result_hash)
    assert len(e2e.events("AgreementFulfilled", request.agreement_id)) == 1
    earned = e2e.market.escrow.withdrawable(e2e.provider.address, token.address)
    assert earned - provider_before == PRICE - PRICE * e2e.market.escrow.fee_bps() // 10_000
    record = e2e.store.get("0x" + request.agreement_id.hex())
    assert record is not None and record.result_ref == result.cid and record.completions == 1


def test_relayed_purchase_and_only_the_buyer_can_decrypt(e2e: E2E, tmp_path) -> None:
    request = request_compute(
        e2e.market,
        e2e.consumer,
        e2e.datasets["bank"],
        e2e.algorithms["describe"].asset_id,
        {"k": 5},
        relayer=e2e.relayer,
    )
    result = wait_for_result(
        e2e.market, request.agreement_id, e2e.consumer, timeout=60, dest=tmp_path / "mine"
    )
    stats = result.load_json("stats.json")
    assert stats["overall"]["n_rows"] == 400
    # Every customer_ref is unique, so all its categories fall under k and are suppressed.
    assert stats["overall"]["categorical"]["customer_ref"]["counts"] == {}
    with pytest.raises(ResultError, match="wrong private key"):
        wait_for_result(
            e2e.market, request.agreement_id, e2e.relayer, timeout=5, dest=tmp_path / "theirs"
        )
