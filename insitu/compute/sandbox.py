"""Run an algorithm package next to private data, in a separate confined process with limits.

`run_algorithm()` is what a provider worker calls for a job. It never raises for a problem
with the job itself (bad hash, bad manifest, bad params, missing data, crash, limits): those
come back as a failed `RunResult` whose `reason` is the code to reject the agreement with. It
raises only for infrastructure problems (e.g. the work directory cannot be created).

Limits: wall time (the process group is SIGKILLed), CPU time (RLIMIT_CPU), address space
(RLIMIT_AS), size of any single written file (RLIMIT_FSIZE, which also bounds stdout/stderr),
and the total size of the output folder (checked after the run). Isolation (network, read-only
data, read-only filesystem) is described in `insitu.compute.isolation`; `RunResult.isolation`
records which strategy was actually used.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from insitu.compute import jail
from insitu.compute.data import resolve_data_file
from insitu.compute.errors import ComputeError
from insitu.compute.package import Manifest, unpack, validate_params
from insitu.compute.reasons import Reason, reason_from_exit_code

Isolation = Literal["auto", "namespaces", "hooks"]


class Launcher(Protocol):
    """Runs a job spec in a confined process (e.g. `insitu.compute.zygote.Zygote`)."""

    def launch(
        self,
        spec_path: Path,
        stdout_path: Path,
        stderr_path: Path,
        cwd: Path,
        env: dict[str, str],
        wall_seconds: float,
    ) -> Any:
        """Return an object with `status`, `cpu_seconds`, `timed_out` and `report`."""
        ...


_TAIL_BYTES = 4096
_POLL_SECONDS = 0.01


@dataclass(frozen=True)
class Limits:
    """Resource limits of one algorithm run."""

    wall_seconds: float = 120.0
    cpu_seconds: int = 120
    memory_bytes: int = 2 * 1024**3
    max_file_bytes: int = 64 * 1024**2
    max_output_bytes: int = 64 * 1024**2
    isolation: Isolation = "auto"


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run. `reason` is Reason.NONE exactly when `ok`."""

    status: Literal["ok", "failed"]
    reason: Reason
    detail: str
    exit_code: int | None
    wall_seconds: float
    cpu_seconds: float
    stdout_tail: str
    stderr_tail: str
    output_dir: Path
    local_dir: Path
    manifest: Manifest | None = None
    isolation: dict[str, Any] = field(default_factory=dict)
    output_bytes: int = 0

    @property
    def ok(self) -> bool:
        """Whether the run succeeded and its output folder may be sealed for the buyer."""
        return self.status == "ok"


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def folder_size(folder: Path) -> int:
    """Total bytes of the files under `folder` (symlinks counted as their own size)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if not p.is_dir())


def child_env(scratch: Path) -> dict[str, str]:
    """The scrubbed environment a sandboxed job (and the zygote that forks it) runs with."""
    return _child_env(scratch)


def _child_env(scratch: Path) -> dict[str, str]:
    # A clean environment: the worker's env may hold keys and URLs the algorithm must not see.
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        # One BLAS/OpenMP thread: threads reserve address space (RLIMIT_AS) and the worker
        # parallelises across jobs, not inside one.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _failed(
    reason: Reason, detail: str, workdir: Path, started: float, manifest: Manifest | None = None
) -> RunResult:
    return RunResult(
        status="failed",
        reason=reason,
        detail=detail,
        exit_code=None,
        wall_seconds=time.monotonic() - started,
        cpu_seconds=0.0,
        stdout_tail="",
        stderr_tail="",
        output_dir=workdir / "output",
        local_dir=workdir / "local",
        manifest=manifest,
    )


def run_algorithm(
    package: bytes,
    *,
    params: dict[str, Any],
    data_path: Path | str,
    workdir: Path | str,
    expected_hash: str | bytes | None = None,
    limits: Limits = Limits(),
    asset: str | None = None,
    provider_inputs: dict[str, Any] | None = None,
    launcher: Launcher | None = None,
) -> RunResult:
    """Verify, unpack and run an algorithm package on `data_path`; see the module docstring.

    With a `launcher` (a zygote), the job runs in a child forked from an interpreter that has
    already imported the scientific stack, under the same limits and confinement; without
    one, in a fresh interpreter.

    `workdir` must not exist or be empty; it receives `algorithm/`, `scratch/`, `output/`
    (what the buyer gets), `local/` (what the provider keeps) and the run's logs. The caller
    deletes it when done with the result.
    """
    started = time.monotonic()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if any(workdir.iterdir()):
        raise ComputeError(f"work directory {workdir} is not empty: use a fresh one per job.")
    manifest: Manifest | None = None
    try:
        manifest = unpack(package, workdir / "algorithm", expected_hash=expected_hash)
        validate_params(manifest, params)
        data_file = resolve_data_file(data_path, asset=asset)
    except ComputeError as exc:
        return _failed(exc.reason, str(exc), workdir, started, manifest)
    for name in ("scratch", "output", "local"):
        (workdir / name).mkdir()
    return _execute(
        manifest,
        workdir,
        data_file,
        params,
        limits,
        asset,
        provider_inputs or {},
        started,
        launcher,
    )


def _execute(
    manifest: Manifest,
    workdir: Path,
    data_file: Path,
    params: dict[str, Any],
    limits: Limits,
    asset: str | None,
    provider_inputs: dict[str, Any],
    started: float,
    launcher: Launcher | None = None,
) -> RunResult:
    spec = {
        "package_dir": str(workdir / "algorithm"),
        "entry_point": manifest.entry_point,
        "data_path": str(data_file.resolve()),
        "readonly": [str(data_file.resolve().parent)],
        "params": params,
        "provider_inputs": provider_inputs,
        "asset": asset,
        "output_dir": str(workdir / "output"),
        "scratch_dir": str(workdir / "scratch"),
        "local_dir": str(workdir / "local"),
        "isolation": limits.isolation,
        "limits": {
            "cpu_seconds": max(1, int(limits.cpu_seconds)),
            "memory_bytes": int(limits.memory_bytes),
            "max_file_bytes": int(limits.max_file_bytes),
        },
    }
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    if launcher is not None:
        outcome = launcher.launch(
            spec_path,
            stdout_path,
            stderr_path,
            workdir / "scratch",
            _child_env(workdir / "scratch"),
            limits.wall_seconds,
        )
        return _outcome(
            manifest,
            workdir,
            limits,
            started,
            outcome.status,
            outcome.cpu_seconds,
            outcome.timed_out,
            outcome.report,
        )
    report_r, report_w = os.pipe()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-I", "-B", jail.__file__, str(spec_path), str(report_w)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            pass_fds=(report_w,),
            cwd=workdir / "scratch",
            env=_child_env(workdir / "scratch"),
            start_new_session=True,
        )
    os.close(report_w)
    status, rusage, timed_out = _wait(process, limits.wall_seconds)
    with os.fdopen(report_r) as report_in:
        raw_report = report_in.read()
    return _outcome(
        manifest,
        workdir,
        limits,
        started,
        status,
        rusage.ru_utime + rusage.ru_stime,
        timed_out,
        raw_report,
    )


def _outcome(
    manifest: Manifest,
    workdir: Path,
    limits: Limits,
    started: float,
    status: int,
    cpu: float,
    timed_out: bool,
    raw_report: str,
) -> RunResult:
    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    isolation = json.loads(raw_report) if raw_report else {"mode": "unknown"}
    reason, detail = _classify(status, timed_out, limits, cpu)
    output_bytes = folder_size(workdir / "output")
    if reason is Reason.NONE and output_bytes > limits.max_output_bytes:
        reason = Reason.OUTPUT_TOO_LARGE
        detail = (
            f"output folder holds {output_bytes} bytes, over the cap of {limits.max_output_bytes}"
        )
    exit_code = os.waitstatus_to_exitcode(status) if status is not None else None
    return RunResult(
        status="ok" if reason is Reason.NONE else "failed",
        reason=reason,
        detail=detail,
        exit_code=exit_code,
        wall_seconds=time.monotonic() - started,
        cpu_seconds=cpu,
        stdout_tail=_tail(stdout_path),
        stderr_tail=_tail(stderr_path),
        output_dir=workdir / "output",
        local_dir=workdir / "local",
        manifest=manifest,
        isolation=isolation,
        output_bytes=output_bytes,
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _wait(process: subprocess.Popen[bytes], wall_seconds: float) -> tuple[int, Any, bool]:
    """Reap the child (with its rusage), SIGKILLing its process group at the wall deadline."""
    deadline = time.monotonic() + wall_seconds
    timed_out = False
    try:
        while True:
            pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() >= deadline:
                timed_out = True
                _kill_group(process.pid)
                pid, status, rusage = os.wait4(process.pid, 0)
                break
            time.sleep(_POLL_SECONDS)
    finally:
        # Stragglers the algorithm forked share the group; none may outlive the job.
        _kill_group(process.pid)
    process.returncode = os.waitstatus_to_exitcode(status)  # stop Popen from reaping again
    return status, rusage, timed_out


def _classify(status: int, timed_out: bool, limits: Limits, cpu: float) -> tuple[Reason, str]:
    if timed_out:
        return Reason.TIMEOUT, f"wall time limit of {limits.wall_seconds:g} s exceeded; killed"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds):
            return Reason.TIMEOUT, f"CPU time limit of {limits.cpu_seconds} s exceeded"
        if sig == signal.SIGXFSZ:
            return Reason.OUTPUT_TOO_LARGE, f"a file exceeded {limits.max_file_bytes} bytes"
        return Reason.CRASHED, f"algorithm killed by signal {signal.Signals(sig).name}"
    code = os.WEXITSTATUS(status)
    if code == 0:
        return Reason.NONE, "ok"
    reason = reason_from_exit_code(code)
    if reason is None:
        return Reason.CRASHED, f"algorithm exited with status {code}"
    return reason, f"algorithm failed: {reason.name} (see stderr_tail)"


def discard(result: RunResult) -> None:
    """Delete a run's work directory (its output, local and scratch folders included)."""
    shutil.rmtree(result.output_dir.parent, ignore_errors=True)
