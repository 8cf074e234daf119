"""The built-in algorithms, run in the sandbox on small synthetic data."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from coincurve import PrivateKey

from insitu.compute.builtin import builtin_package
from insitu.compute.reasons import Reason
from insitu.compute.sandbox import Limits, RunResult, run_algorithm
from insitu.compute.secure_sum import combine, provider_mask

from .conftest import classification_frame

LIMITS = Limits(wall_seconds=60, cpu_seconds=60)


def _run(
    name: str, data: Path, workdir: Path, params: dict, provider_inputs: dict | None = None
) -> RunResult:
    return run_algorithm(
        builtin_package(name),
        params=params,
        data_path=data,
        workdir=workdir,
        limits=LIMITS,
        provider_inputs=provider_inputs,
    )


def _write(frame: pd.DataFrame, folder: Path, name: str = "data.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / name, index=False)
    return folder / name


def test_sklearn_train_returns_model_and_metrics(tmp_path: Path) -> None:
    frame = classification_frame()
    data = _write(frame, tmp_path / "bank")
    result = _run(
        "sklearn_train",
        data,
        tmp_path / "run",
        {
            "estimator": "sklearn.linear_model.LogisticRegression",
            "target": "label",
            "estimator_params": {"C": 1.0, "max_iter": 200},
            "test_size": 0.25,
        },
    )
    assert result.ok, result.stderr_tail
    metrics = json.loads((result.output_dir / "metrics.json").read_text())
    assert metrics["n_train"] == 300 and metrics["n_test"] == 100
    assert metrics["accuracy"] > 0.85 and metrics["roc_auc"] > 0.9
    assert metrics["features"] == ["f0", "f1", "f2"]
    import pickle

    model = pickle.loads((result.output_dir / "model.pkl").read_bytes())
    assert model.predict(frame[["f0", "f1", "f2"]].to_numpy()[:5]).shape == (5,)


def test_sklearn_train_bad_estimator_params(tmp_path: Path) -> None:
    frame = classification_frame().assign(y=lambda f: 3 * f.f0 - f.f1)
    data = _write(frame.drop(columns="label"), tmp_path / "d")
    bad = _run(
        "sklearn_train",
        data,
        tmp_path / "r2",
        {
            "estimator": "sklearn.linear_model.Ridge",
            "target": "y",
            "estimator_params": {"no_such_param": 1},
        },
    )
    assert bad.reason is Reason.BAD_PARAMS and "no_such_param" in bad.stderr_tail


def test_sklearn_train_refuses_unlisted_estimator_and_missing_target(tmp_path: Path) -> None:
    data = _write(classification_frame(), tmp_path / "d")
    refused = _run(
        "sklearn_train",
        data,
        tmp_path / "r1",
        {"estimator": "sklearn.neighbors.KNeighborsClassifier", "target": "label"},
    )
    assert refused.reason is Reason.BAD_PARAMS and "estimator" in refused.detail
    missing = _run(
        "sklearn_train",
        data,
        tmp_path / "r2",
        {"estimator": "sklearn.linear_model.LogisticRegression", "target": "fraud"},
    )
    assert missing.reason is Reason.BAD_PARAMS and "no column 'fraud'" in missing.stderr_tail


def test_describe_suppresses_small_groups(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(100, 10, size=60).round(2),
            "branch": ["north"] * 30 + ["south"] * 27 + ["tiny"] * 3,
            "kind": ["card"] * 59 + ["wire"],
        }
    )
    data = _write(frame, tmp_path / "d")
    result = _run("describe", data, tmp_path / "run", {"k": 5, "group_by": "branch"})
    assert result.ok, result.stderr_tail
    stats = json.loads((result.output_dir / "stats.json").read_text())
    overall = stats["overall"]
    assert overall["n_rows"] == 60
    amount = overall["numeric"]["amount"]
    assert amount["count"] == 60 and amount["mean"] == pytest.approx(frame.amount.mean())
    assert amount["q0.5"] == pytest.approx(frame.amount.median())
    assert "min" not in amount and "max" not in amount  # extremes are single rows
    assert overall["categorical"]["branch"] == {
        "counts": {"north": 30, "south": 27},
        "suppressed_categories": 1,
    }
    assert overall["categorical"]["kind"] == {"counts": {"card": 59}, "suppressed_categories": 1}
    assert sorted(stats["groups"]["values"]) == ["north", "south"]
    assert stats["groups"]["suppressed_groups"] == 1
    assert "tiny" not in json.dumps(stats) and "wire" not in json.dumps(stats)


def _readings(seed: int, n_shipments: int) -> tuple[pd.DataFrame, list[int]]:
    """Temperature readings and the true [shipments, flagged, too warm, too cold]."""
    rng = np.random.default_rng(seed)
    rows, warm, cold = [], set(), set()
    for s in range(n_shipments):
        temps = rng.uniform(2.5, 7.5, size=6)
        if rng.random() < 0.2:
            temps[2] = 9.5
            warm.add(s)
        if rng.random() < 0.1:
            temps[4] = 0.5
            cold.add(s)
        rows += [{"shipment_id": f"S{seed}-{s}", "temperature_c": round(t, 2)} for t in temps]
    return pd.DataFrame(rows), [n_shipments, len(warm | cold), len(warm), len(cold)]


def test_coldchain_single_provider(tmp_path: Path) -> None:
    frame, truth = _readings(7, 40)
    data = _write(frame, tmp_path / "carrier")
    result = _run("coldchain_query", data, tmp_path / "run", {})
    assert result.ok, result.stderr_tail
    out = json.loads((result.output_dir / "result.json").read_text())
    assert out["values"] == truth and out["masked"] is False
    flags = pd.read_csv(result.local_dir / "flagged_shipments.csv")
    assert len(flags) == truth[1]  # the flags stay with the provider, in local/
    assert not (result.output_dir / "flagged_shipments.csv").exists()


def test_coldchain_federated_secure_sum(tmp_path: Path) -> None:
    keys = [PrivateKey() for _ in range(3)]
    publics = [k.public_key.format(compressed=False) for k in keys]
    session = bytes.fromhex("ab" * 32)
    masked, truths = [], []
    for i, key in enumerate(keys):
        frame, truth = _readings(i, 30 + 10 * i)
        truths.append(truth)
        data = _write(frame, tmp_path / f"carrier{i}")
        mask = provider_mask(key.secret, publics, session, 4)
        result = _run(
            "coldchain_query",
            data,
            tmp_path / f"run{i}",
            {"low": 2, "high": 8},
            provider_inputs={"mask": mask, "session": "0x" + session.hex()},
        )
        assert result.ok, result.stderr_tail
        out = json.loads((result.output_dir / "result.json").read_text())
        assert out["masked"] is True and out["values"] != truth
        masked.append(out["values"])
    assert combine(masked) == [sum(col) for col in zip(*truths, strict=True)]
