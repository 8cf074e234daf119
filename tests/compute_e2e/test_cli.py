"""The command line over the same stack: publish an algorithm, buy a job and read its result,
inspect the provider's worker (processes, checkpoint, dead letters)."""

from __future__ import annotations

import json
import re

from e2e_harness import E2E
from typer.testing import CliRunner

from insitu.cli import app


def _env(e2e: E2E) -> dict[str, str]:
    return {
        "INSITU_HOME": str(e2e.home),
        "INSITU_RPC_URL": e2e.rpc_url,
        "INSITU_REDIS_URL": e2e.redis_url,
        "COLUMNS": "200",
    }


def test_publish_buy_and_read_a_result_from_the_cli(e2e: E2E, tmp_path) -> None:
    runner = CliRunner()
    published = runner.invoke(app, ["algorithm", "publish", "describe"], env=_env(e2e))
    assert published.exit_code == 0, published.output
    assert re.search(r"algorithm asset 0x[0-9a-f]{64}", published.output)

    dataset = "0x" + e2e.datasets["bank"].hex()
    algorithm = "0x" + e2e.algorithms["describe"].asset_id.hex()
    bought = runner.invoke(
        app,
        [
            "compute",
            "buy",
            "--dataset",
            dataset,
            "--algorithm",
            algorithm,
            "--params",
            json.dumps({"k": 5}),
            "--relay",
            "--out",
            str(tmp_path / "result"),
            "--timeout",
            "60",
        ],
        env=_env(e2e),
    )
    assert bought.exit_code == 0, bought.output
    agreement = re.search(r"agreement (0x[0-9a-f]{64}) created", bought.output).group(1)
    assert '"n_rows": 400' in bought.output
    assert (tmp_path / "result" / "stats.json").is_file()

    again = runner.invoke(
        app, ["compute", "result", agreement, "--out", str(tmp_path / "again")], env=_env(e2e)
    )
    assert again.exit_code == 0, again.output
    assert "stats.json" in again.output


def test_cli_buy_with_bad_params_fails_before_paying(e2e: E2E) -> None:
    dataset = "0x" + e2e.datasets["bank"].hex()
    algorithm = "0x" + e2e.algorithms["sklearn_train"].asset_id.hex()
    result = CliRunner().invoke(
        app,
        [
            "compute",
            "buy",
            "--dataset",
            dataset,
            "--algorithm",
            algorithm,
            "--params",
            '{"target": 5}',
        ],
        env=_env(e2e),
    )
    assert result.exit_code == 1
    assert "estimator" in result.output and "error" in result.output


def test_worker_status_shows_processes_and_dead_letters(e2e: E2E) -> None:
    result = CliRunner().invoke(
        app, ["worker", "status", "--config", str(e2e.unit.config.path)], env=_env(e2e)
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"listener\W+running", result.output)
    assert re.search(r"celery\W+running", result.output)
    assert "listener checkpoint: block" in result.output
    assert "dead letters" in result.output
