"""Canary scanning: planted values must not appear in anything a sandboxed job publishes."""

from pathlib import Path

import numpy as np
import pytest
from eth_account import Account

from insitu.compute.builtin import builtin_package
from insitu.compute.canary import find_canaries
from insitu.compute.result import seal_result
from insitu.compute.sandbox import Limits, run_algorithm
from insitu.crypto.ecies import public_key_from_private

from .conftest import AlgorithmFactory, classification_frame

CANARY_ID = "CANARY-7f3a9c21"
CANARY_CATEGORY = "canary-branch-e41b"
CANARY_AMOUNT = 987654.321


def _private_data(tmp_path: Path) -> Path:
    frame = classification_frame(n=120, seed=3)
    frame["customer"] = [f"cust-{i:04d}" for i in range(len(frame))]
    frame["branch"] = ["north"] * 60 + ["south"] * 59 + [CANARY_CATEGORY]
    frame["amount"] = np.random.default_rng(3).normal(100, 5, len(frame)).round(2)
    frame.loc[17, "customer"] = CANARY_ID
    frame.loc[42, "amount"] = CANARY_AMOUNT
    folder = tmp_path / "private"
    folder.mkdir()
    frame.to_csv(folder / "bank.csv", index=False)
    return folder / "bank.csv"


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("describe", {"k": 5, "group_by": "branch"}),
        (
            "sklearn_train",
            {
                "estimator": "sklearn.ensemble.RandomForestClassifier",
                "estimator_params": {"n_estimators": 10},
                "target": "label",
            },
        ),
    ],
)
def test_builtin_result_carries_no_canary(tmp_path: Path, name: str, params: dict) -> None:
    data = _private_data(tmp_path)
    buyer = Account.create()
    canaries = [CANARY_ID, CANARY_CATEGORY, CANARY_AMOUNT]
    assert find_canaries(data.read_bytes(), canaries)  # positive control: planted in the data
    result = run_algorithm(
        builtin_package(name),
        params=params,
        data_path=data,
        workdir=tmp_path / "run",
        limits=Limits(wall_seconds=60),
    )
    assert result.ok, result.stderr_tail
    sealed = seal_result(result.output_dir, public_key_from_private(buyer))
    assert find_canaries(sealed.ciphertext, canaries, private_key=buyer) == []


def test_scanner_catches_a_leaking_algorithm(
    make_algorithm: AlgorithmFactory, tmp_path: Path
) -> None:
    data = _private_data(tmp_path)
    buyer = Account.create()
    package = make_algorithm("""
        import pickle
        frame = ctx.read_table()
        row = frame[frame.customer == "CANARY-7f3a9c21"]
        (ctx.output_dir / "leak.pkl").write_bytes(pickle.dumps(frame["amount"].to_numpy()))
        ctx.write_json("row.json", row.to_dict("records"))
    """)
    result = run_algorithm(
        package, params={}, data_path=data, workdir=tmp_path / "run", limits=Limits(wall_seconds=60)
    )
    assert result.ok, result.stderr_tail
    sealed = seal_result(result.output_dir, public_key_from_private(buyer))
    hits = find_canaries(sealed.ciphertext, [CANARY_ID, CANARY_AMOUNT], private_key=buyer)
    assert {(h.canary, h.encoding) for h in hits} >= {
        (CANARY_ID, "utf-8"),
        (CANARY_AMOUNT, "float64-le"),
    }
    assert all(h.source.endswith("(decrypted)") for h in hits)  # ciphertext alone hides them
