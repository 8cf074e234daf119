"""``insitu inference predict``: the buyer's command over the same stack and workers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from inference_harness import PRICE_PER_ROW, InferenceEnv
from typer.testing import CliRunner

from insitu.cli import app


def test_predict_a_csv_privately_from_the_cli(inference_env: InferenceEnv, tmp_path: Path) -> None:
    env = inference_env
    rows = env.rows[:7]
    csv = tmp_path / "patients.csv"
    header = ",".join(f"f{i}" for i in range(rows.shape[1]))
    np.savetxt(csv, rows, delimiter=",", header=header, comments="")
    out = tmp_path / "labels.csv"
    environment = {
        "INSITU_HOME": str(env.home),
        "INSITU_RPC_URL": env.rpc_url,
        "INSITU_PRIVATE_KEY": env.buyer.key.to_0x_hex(),
        "COLUMNS": "200",
    }
    args = ["inference", "predict", "--asset", "0x" + env.asset.hex(), "--csv", str(csv)]
    args += ["--out", str(out), "--dealer", env.dealer.address, "--timeout", "60"]
    result = CliRunner().invoke(app, args, env=environment)
    assert result.exit_code == 0, result.output
    labels = np.loadtxt(out, delimiter=",")
    np.testing.assert_array_equal(labels, env.model.predict(rows))  # type: ignore[attr-defined]
    assert re.search(rf"7 rows, paid {7 * PRICE_PER_ROW}\b", result.output)

    refused = CliRunner().invoke(app, [*args[:-4], "--dealer", env.owner.address], env=environment)
    assert refused.exit_code == 1
    assert "not one the model owner accepts" in refused.output
