"""The federated cold-chain query across two providers' workers, and the canary proof that no
raw row of private data is in anything a worker published (IPFS blocks, transactions, events)."""

from __future__ import annotations

import os
from pathlib import Path

from e2e_harness import E2E, NUMBER_CANARIES, SHIPMENT_CANARIES, STRING_CANARIES
from hexbytes import HexBytes

from insitu.chain import AgreementStatus
from insitu.compute.buyer import request_compute, run_federated_query, wait_for_result
from insitu.compute.canary import find_canaries
from insitu.compute.job_document import SecureSum
from insitu.compute.reasons import Reason
from insitu.crypto.ecies import public_key_from_private
from insitu.worker import WorkerUnit

#: (shipments, flagged, too warm, too cold) planted in each carrier's readings.
CARRIER_A = (40, 7, 4, 3)
CARRIER_B = (25, 5, 2, 3)


def test_federated_coldchain_query_reveals_only_the_combined_counts(
    e2e: E2E, provider_b_unit: WorkerUnit
) -> None:
    progress: list[str] = []
    result = run_federated_query(
        e2e.market,
        e2e.consumer,
        [e2e.datasets["carrier_a"], e2e.datasets["carrier_b"]],
        e2e.algorithms["coldchain_query"].asset_id,
        {"low": 2.0, "high": 8.0},
        timeout=60,
        on_progress=progress.append,
    )
    expected = tuple(a + b for a, b in zip(CARRIER_A, CARRIER_B, strict=True))
    assert result.totals == expected
    assert result.as_dict()["n_flagged"] == 12
    assert len(result.agreements) == 2

    # What the buyer decrypts from each provider is masked: not that provider's counts.
    for agreement, truth in zip(result.agreements, (CARRIER_A, CARRIER_B), strict=True):
        single = wait_for_result(e2e.market, agreement, e2e.consumer, timeout=5)
        document = single.load_json("result.json")
        assert document["masked"] is True
        assert tuple(document["values"]) != truth
        assert all(v > 2**32 for v in document["values"])  # uniformly random mod 2^64


def test_federated_job_refuses_fake_participants_and_reused_sessions(
    e2e: E2E, provider_b_unit: WorkerUnit
) -> None:
    algorithm = e2e.algorithms["coldchain_query"].asset_id
    key_a = "0x" + public_key_from_private(e2e.provider.key).hex()
    key_b = "0x" + public_key_from_private(e2e.provider_b.key).hex()
    # The buyer lists a key it holds itself: it could strip provider A's mask. No agreement with
    # that "provider" exists, so provider A's worker refuses after waiting for one.
    fake = "0x" + public_key_from_private(e2e.relayer.key).hex()
    rigged = SecureSum("0x" + os.urandom(32).hex(), (key_a, fake), 4)
    bad = request_compute(
        e2e.market, e2e.consumer, e2e.datasets["carrier_a"], algorithm, {}, secure_sum=rigged
    ).agreement_id
    # A replay of a finished query's session on provider B alone (same document as before).
    session = SecureSum("0x" + os.urandom(32).hex(), (key_a, key_b), 4)
    first = [
        request_compute(
            e2e.market, e2e.consumer, e2e.datasets[d], algorithm, {}, secure_sum=session
        ).agreement_id
        for d in ("carrier_a", "carrier_b")
    ]
    e2e.wait_settled(first)
    replay = request_compute(
        e2e.market, e2e.consumer, e2e.datasets["carrier_b"], algorithm, {}, secure_sum=session
    ).agreement_id
    e2e.wait_settled([bad, replay])
    for agreement, words in ((bad, "never got an agreement"), (replay, "already used")):
        assert e2e.status(agreement) is AgreementStatus.REJECTED
        [event] = e2e.events("AgreementRejected", agreement)
        assert event["args"]["reason"] == Reason.BAD_PARAMS
        letter = e2e.store.dead_letter("0x" + agreement.hex())
        assert letter is not None and words in letter.message


def _blocks(store_dir: Path) -> list[tuple[str, bytes]]:
    return [
        (str(p), p.read_bytes()) for p in sorted((store_dir / "blocks").rglob("*")) if p.is_file()
    ]


def _provider_chain_bytes(e2e: E2E) -> list[tuple[str, bytes]]:
    w3 = e2e.market.w3
    providers = {e2e.provider.address, e2e.provider_b.address}
    blobs = []
    for number in range(w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] not in providers:
                continue
            name = HexBytes(tx["hash"]).to_0x_hex()
            blobs.append((f"tx {name} calldata", bytes(tx["input"])))
            for log in w3.eth.get_transaction_receipt(tx["hash"])["logs"]:
                topics = b"".join(bytes(t) for t in log["topics"])
                blobs.append((f"tx {name} log {log['logIndex']}", topics + bytes(log["data"])))
    return blobs


def test_no_canary_from_private_data_in_anything_a_worker_published(e2e: E2E) -> None:
    # Run each kind of job once more, with every numeric column as a feature.
    agreements = [
        request_compute(
            e2e.market,
            e2e.consumer,
            e2e.datasets["bank"],
            e2e.algorithms["sklearn_train"].asset_id,
            {"estimator": "sklearn.linear_model.LogisticRegression", "target": "label"},
        ).agreement_id,
        request_compute(
            e2e.market,
            e2e.consumer,
            e2e.datasets["bank"],
            e2e.algorithms["describe"].asset_id,
            {"k": 5, "group_by": "label"},
        ).agreement_id,
    ]
    for agreement in agreements:
        wait_for_result(e2e.market, agreement, e2e.consumer, timeout=60)

    canaries = [*STRING_CANARIES, *NUMBER_CANARIES, *SHIPMENT_CANARIES]
    blobs = _blocks(e2e.settings.ipfs_store_dir) + _provider_chain_bytes(e2e)
    chain_blobs = [b for b in blobs if b[0].startswith("tx ")]
    assert len(chain_blobs) >= 10, "the providers' transactions were not found"
    hits = [
        hit
        for source, blob in blobs
        for hit in find_canaries(blob, canaries, private_key=e2e.consumer, source=source)
    ]
    assert hits == []
    # The scan itself works: the raw private files are full of canaries.
    raw = e2e.data_files["bank"].read_bytes()
    assert find_canaries(raw, canaries, source="bank.csv")
