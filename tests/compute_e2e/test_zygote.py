"""The sandbox zygote: forked jobs get the same limits, confinement and classification as a
fresh interpreter, start in a fraction of the time, and never see the worker's environment."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import write_algorithm

from insitu.compute.builtin import builtin_package
from insitu.compute.package import algorithm_hash, pack
from insitu.compute.reasons import Reason
from insitu.compute.sandbox import Limits, child_env, run_algorithm
from insitu.compute.zygote import Zygote, ZygoteError


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    os.environ["INSITU_ZYGOTE_TEST_SECRET"] = "provider-secret-7731"
    try:
        scratch = tmp_path_factory.mktemp("zygote")
        z = Zygote(child_env(scratch), log_path=scratch / "zygote.log")
        z.start()
        yield z
        z.stop()
    finally:
        os.environ.pop("INSITU_ZYGOTE_TEST_SECRET", None)


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "private" / "t.csv"
    path.parent.mkdir()
    path.write_text("a,b\n1,2\n3,4\n")
    return path


def _package(tmp_path: Path, body: str) -> bytes:
    return pack(write_algorithm(tmp_path / f"alg{time.monotonic_ns()}", "probe", body))


def test_forked_job_is_confined_and_sees_a_clean_environment(
    zygote: Zygote, tmp_path: Path, table: Path
) -> None:
    body = """
    import socket
    env = dict(os.environ)
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1)
        network = "reachable"
    except OSError:
        network = "blocked"
    try:
        open(ctx.data_path, "a").write("x")
        data = "writable"
    except OSError:
        data = "read-only"
    ctx.write_json("probe.json", {"env": env, "network": network, "data": data,
                                  "rows": len(ctx.read_table())})
    """
    result = run_algorithm(
        _package(tmp_path, body),
        params={},
        data_path=table,
        workdir=tmp_path / "w",
        launcher=zygote,
    )
    assert result.ok, result.stderr_tail
    import json

    probe = json.loads((result.output_dir / "probe.json").read_text())
    assert probe["rows"] == 2
    assert probe["network"] == "blocked" and probe["data"] == "read-only"
    assert "INSITU_ZYGOTE_TEST_SECRET" not in probe["env"]
    assert not any(k.startswith("INSITU") for k in probe["env"])
    assert result.isolation["mode"] in ("namespaces", "hooks")


@pytest.mark.parametrize(
    ("body", "limits", "reason"),
    [
        ("raise ValueError('boom')\n", Limits(), Reason.CRASHED),
        ("time.sleep(30)\n", Limits(wall_seconds=1.0), Reason.TIMEOUT),
        ("x = bytearray(8 * 1024**3)\n", Limits(memory_bytes=3 * 1024**3), Reason.MEMORY),
        ("while True:\n    pass\n", Limits(cpu_seconds=1, wall_seconds=20), Reason.TIMEOUT),
        ("ctx.reject('BAD_PARAMS', 'no')\n", Limits(), Reason.BAD_PARAMS),
    ],
)
def test_forked_job_failures_are_classified_like_fresh_ones(
    zygote: Zygote, tmp_path: Path, table: Path, body: str, limits: Limits, reason: Reason
) -> None:
    started = time.monotonic()
    result = run_algorithm(
        _package(tmp_path, body),
        params={},
        data_path=table,
        workdir=tmp_path / "w",
        limits=limits,
        launcher=zygote,
    )
    assert (result.status, result.reason) == ("failed", reason), result.detail
    assert time.monotonic() - started < 15


def test_small_sklearn_job_starts_fast(zygote: Zygote, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    data = tmp_path / "d" / "t.csv"
    data.parent.mkdir()
    pd.DataFrame({"f0": x[:, 0], "f1": x[:, 1], "y": (x[:, 0] > 0).astype(int)}).to_csv(data)
    package = builtin_package("sklearn_train")
    params = {
        "estimator": "sklearn.linear_model.LogisticRegression",
        "target": "y",
        "features": ["f0", "f1"],
    }
    result = run_algorithm(
        package,
        params=params,
        data_path=data,
        workdir=tmp_path / "w",
        expected_hash=algorithm_hash(package),
        launcher=zygote,
    )
    assert result.ok, result.stderr_tail
    # The imports were paid once in the zygote; a fresh interpreter spends ~1.8 s CPU on them.
    assert result.cpu_seconds < 1.0


def test_a_zygote_dying_mid_job_fails_the_launch_and_is_restarted(
    tmp_path: Path, table: Path
) -> None:
    z = Zygote(child_env(tmp_path), log_path=tmp_path / "z.log")
    try:
        z.start()
        pid = z.pid
        assert pid is not None
        threading.Timer(0.5, os.kill, (pid, 9)).start()
        slow = _package(tmp_path, "time.sleep(3)\n")
        started = time.monotonic()
        with pytest.raises(ZygoteError, match="retry"):
            run_algorithm(slow, params={}, data_path=table, workdir=tmp_path / "w1", launcher=z)
        assert time.monotonic() - started < 2.5
        result = run_algorithm(
            _package(tmp_path, "ctx.write_json('ok.json', 1)\n"),
            params={},
            data_path=table,
            workdir=tmp_path / "w2",
            launcher=z,
        )
        assert result.ok and z.pid != pid
    finally:
        z.stop()
