"""The sandbox: limits, reason codes, network and filesystem confinement, with real processes."""

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from insitu.compute.isolation import namespaces_available
from insitu.compute.package import algorithm_hash
from insitu.compute.reasons import Reason
from insitu.compute.sandbox import Limits, RunResult, run_algorithm

from .conftest import AlgorithmFactory

MODES = ["hooks", *(["namespaces"] if namespaces_available() else [])]
FAST = Limits(wall_seconds=20, cpu_seconds=10, memory_bytes=1024**3)


def _run(
    package: bytes,
    data: Path,
    workdir: Path,
    limits: Limits = FAST,
    params: dict | None = None,
    **kwargs: object,
) -> RunResult:
    return run_algorithm(
        package, params=params or {}, data_path=data, workdir=workdir, limits=limits, **kwargs
    )  # type: ignore[arg-type]


def test_successful_run_reports_isolation(
    make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path
) -> None:
    package = make_algorithm("""
        frame = ctx.read_table()
        ctx.write_json("out.json", {"rows": len(frame), "params": ctx.params,
                                    "env": sorted(os.environ)})
        print("hello from the sandbox")
    """)
    os.environ["INSITU_TEST_SECRET"] = "must-not-leak"
    try:
        result = _run(
            package,
            data_file,
            tmp_path / "run",
            params={"x": 1},
            expected_hash=algorithm_hash(package),
        )
    finally:
        del os.environ["INSITU_TEST_SECRET"]
    assert result.ok, result.stderr_tail
    assert result.reason is Reason.NONE and result.exit_code == 0
    out = json.loads((result.output_dir / "out.json").read_text())
    assert out["rows"] == 3 and out["params"] == {"x": 1}
    assert "INSITU_TEST_SECRET" not in out["env"]
    assert "hello from the sandbox" in result.stdout_tail
    assert result.isolation["mode"] == ("namespaces" if namespaces_available() else "hooks")
    assert 0 < result.wall_seconds < 15 and result.cpu_seconds > 0


def test_wall_timeout_kills_process_group(
    make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path
) -> None:
    package = make_algorithm("""
        if os.fork() == 0:
            time.sleep(3)
            (ctx.local_dir / "grandchild-alive").touch()
            os._exit(0)
        time.sleep(60)
    """)
    started = time.monotonic()
    result = _run(
        package,
        data_file,
        tmp_path / "run",
        Limits(
            wall_seconds=1.0,
            cpu_seconds=10,
            isolation="namespaces" if namespaces_available() else "auto",
        ),
    )
    assert result.reason is Reason.TIMEOUT and "wall time" in result.detail
    assert time.monotonic() - started < 5
    time.sleep(3.5)
    # The forked grandchild was in the job's process group and died with it.
    assert not (result.local_dir / "grandchild-alive").exists()


def test_cpu_limit(make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path) -> None:
    package = make_algorithm("""
        while True:
            pass
    """)
    result = _run(package, data_file, tmp_path / "run", Limits(wall_seconds=20, cpu_seconds=1))
    assert result.reason is Reason.TIMEOUT and "CPU" in result.detail
    # rusage and the RLIMIT_CPU tick accounting differ by a few hundred ms.
    assert result.cpu_seconds > 0.5 and result.wall_seconds < 10


def test_memory_limit(make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path) -> None:
    package = make_algorithm("""
        hog = bytearray(900 * 1024 * 1024)
        ctx.write_json("never.json", len(hog))
    """)
    result = _run(
        package, data_file, tmp_path / "run", Limits(wall_seconds=20, memory_bytes=512 * 1024**2)
    )
    assert result.reason is Reason.MEMORY, result.stderr_tail
    assert "MemoryError" in result.stderr_tail


def test_crash_is_reported_with_stderr(
    make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path
) -> None:
    package = make_algorithm("raise ValueError('boom from the algorithm')\n")
    result = _run(package, data_file, tmp_path / "run")
    assert result.reason is Reason.CRASHED and not result.ok
    assert "boom from the algorithm" in result.stderr_tail


def test_algorithm_can_reject_with_reason(
    make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path
) -> None:
    package = make_algorithm("ctx.reject('NOT_ALLOWED', 'estimator refused')\n")
    result = _run(package, data_file, tmp_path / "run")
    assert result.reason is Reason.NOT_ALLOWED and "estimator refused" in result.stderr_tail


def test_output_folder_cap(
    make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path
) -> None:
    package = make_algorithm("""
        for i in range(3):
            (ctx.output_dir / f"part{i}").write_bytes(b"x" * 400_000)
    """)
    result = _run(
        package,
        data_file,
        tmp_path / "run",
        Limits(max_output_bytes=1_000_000, max_file_bytes=10_000_000),
    )
    assert result.reason is Reason.OUTPUT_TOO_LARGE and result.output_bytes == 1_200_000


def test_single_file_cap(make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path) -> None:
    package = make_algorithm("""
        with open(ctx.output_dir / "huge.bin", "wb") as f:
            f.write(b"x" * 3_000_000)
    """)
    result = _run(
        package,
        data_file,
        tmp_path / "run",
        Limits(max_output_bytes=10_000_000, max_file_bytes=1_000_000),
    )
    assert result.reason is Reason.OUTPUT_TOO_LARGE, result.stderr_tail


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize("mode", MODES)
def test_network_is_blocked(
    make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path, listener: int, mode: str
) -> None:
    package = make_algorithm(f"""
        try:
            socket.create_connection(("127.0.0.1", {listener}), timeout=2)
            outcome = "connected"
        except OSError as exc:
            outcome = repr(exc)
        ctx.write_json("net.json", outcome)
    """)
    result = _run(package, data_file, tmp_path / "run", Limits(wall_seconds=20, isolation=mode))  # type: ignore[arg-type]
    assert result.ok, result.stderr_tail
    assert result.isolation["mode"] == mode
    outcome = json.loads((result.output_dir / "net.json").read_text())
    assert outcome != "connected"
    assert ("unreachable" in outcome) if mode == "namespaces" else ("sandbox" in outcome)


@pytest.mark.parametrize("mode", MODES)
def test_data_dir_is_read_only(
    make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path, mode: str
) -> None:
    package = make_algorithm("""
        attempts = {}
        for name, action in [
            ("append", lambda: open(ctx.data_path, "a").write("evil")),
            ("create", lambda: open(ctx.data_path.parent / "new.csv", "w").write("evil")),
            ("delete", lambda: os.remove(ctx.data_path)),
            ("rename", lambda: os.rename(ctx.data_path, ctx.data_path.with_suffix(".bak"))),
        ]:
            try:
                action()
                attempts[name] = "succeeded"
            except OSError as exc:
                attempts[name] = repr(exc)
        ctx.write_json("attempts.json", attempts)
    """)
    before = data_file.read_bytes()
    result = _run(package, data_file, tmp_path / "run", Limits(wall_seconds=20, isolation=mode))  # type: ignore[arg-type]
    assert result.ok, result.stderr_tail
    attempts = json.loads((result.output_dir / "attempts.json").read_text())
    assert all(v != "succeeded" for v in attempts.values()), attempts
    assert data_file.read_bytes() == before
    assert sorted(p.name for p in data_file.parent.iterdir()) == ["table.csv"]


@pytest.mark.skipif(not namespaces_available(), reason="needs Linux namespaces (root)")
def test_namespaces_make_host_filesystem_read_only(
    make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "outside.txt"
    package = make_algorithm(f"""
        try:
            open({str(target)!r}, "w").write("x")
            outcome = "written"
        except OSError as exc:
            outcome = repr(exc)
        (ctx.scratch_dir / "ok").write_text("scratch is writable")
        (ctx.local_dir / "ok").write_text("local is writable")
        ctx.write_json("fs.json", outcome)
    """)
    result = _run(package, data_file, tmp_path / "run")
    assert result.ok, result.stderr_tail
    assert "Read-only" in json.loads((result.output_dir / "fs.json").read_text())
    assert not target.exists() and (result.local_dir / "ok").exists()
    assert result.isolation["capabilities"] == "all dropped"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"expected_hash": "0x" + "11" * 32}, Reason.HASH_MISMATCH),
        ({"params": {"n": "not an int"}}, Reason.BAD_PARAMS),
        ({"data_path": "/nonexistent/insitu/table.csv"}, Reason.DATA_MISSING),
    ],
)
def test_rejections_before_running(
    make_algorithm: AlgorithmFactory, data_file: Path, tmp_path: Path, kwargs: dict, reason: Reason
) -> None:
    package = make_algorithm(
        "ctx.write_json('ran.json', True)\n",
        parameters={"type": "object", "properties": {"n": {"type": "integer"}}},
    )
    args: dict = {"params": {}, "data_path": data_file, **kwargs}
    result = run_algorithm(package, workdir=tmp_path / "run", asset="did:insitu:test", **args)
    assert result.reason is reason and not result.ok
    assert result.exit_code is None  # nothing was started
    if reason is Reason.DATA_MISSING:
        assert "did:insitu:test" in result.detail and "does not exist" in result.detail
