"""A pre-forked "zygote": import the scientific stack once, fork a confined child per job.

A fresh interpreter per job spends ~2 s of CPU importing pandas and scikit-learn before the
algorithm does anything; on a 2-core provider that caps throughput near 60 jobs/min. The zygote
is a separate, clean interpreter (``python -I -B -m insitu.compute.zygote``, started with the
sandbox's scrubbed environment) that imports numpy/pandas/scikit-learn once and then, per job,
forks a child that runs `insitu.compute.jail.run_spec`: the same rlimits, namespaces or audit
hook, report pipe and exit-code protocol as the fresh-interpreter path. Forking is copy-on-write,
so a job starts in milliseconds with the libraries already loaded.

Why a separate process rather than forking the Celery worker itself: the worker holds the
provider's decrypted signing key, Redis and RPC connections and environment; a forked child
inherits all of its memory, and an algorithm could read the key back (``gc.get_objects()``).
The zygote never holds any of that: it is spawned before a job runs, with a clean environment,
and it receives only the path of a job spec.

Protocol (one JSON object per line): the zygote writes ``{"ready": …}`` once its imports are
done, then for each request line ``{"spec": path, "stdout": path, "stderr": path, "cwd": path,
"env": {…}, "wall_seconds": s}`` it forks, waits (SIGKILLing the child's process group at the
wall deadline) and answers ``{"status": wait status, "cpu": s, "timed_out": bool, "report":
"…"}``. It exits when its stdin closes (its worker died or stopped). Jobs are run one at a time
per zygote; a worker process owns one zygote.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from insitu.compute.errors import ComputeError

#: Imported once in the zygote; what the built-in algorithms use.
PRELOAD = (
    "numpy", "pandas", "sklearn", "sklearn.base", "sklearn.linear_model", "sklearn.tree",
    "sklearn.ensemble", "sklearn.naive_bayes", "sklearn.model_selection", "sklearn.metrics",
    "insitu.compute.data", "insitu.compute.jail",
)  # fmt: skip
_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.005


class ZygoteError(ComputeError):
    """The zygote process could not start or died; the job can be retried."""


@dataclass(frozen=True)
class LaunchOutcome:
    """How a sandboxed job process ended: its wait status, CPU seconds and isolation report."""

    status: int
    cpu_seconds: float
    timed_out: bool
    report: str


# ------------------------------------------------------------------------- server (zygote side)


def _run_child(request: dict[str, Any], report_w: int, response_fd: int) -> int:
    from insitu.compute import jail
    from insitu.compute.reasons import Reason, exit_code_for

    # Die with the zygote: an orphaned algorithm would escape its wall-time limit.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.setsid()
    os.close(response_fd)  # the algorithm must not be able to answer for the zygote
    stdin = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for fd, target in ((stdin, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    try:
        spec = json.loads(Path(request["spec"]).read_text())
        return jail.run_spec(spec, report_w)
    except BaseException:
        return exit_code_for(Reason.CRASHED)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()


def _launch(request: dict[str, Any], response_fd: int) -> dict[str, Any]:
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        code = 70
        try:
            code = _run_child(request, report_w, response_fd)
        finally:
            os._exit(code)
    os.close(report_w)
    deadline = time.monotonic() + float(request["wall_seconds"])
    timed_out = False
    while True:
        done, status, rusage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() >= deadline:
            timed_out = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            _, status, rusage = os.wait4(pid, 0)
            break
        time.sleep(_POLL_SECONDS)
    # Stragglers the algorithm forked share its process group; none may outlive the job.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with os.fdopen(report_r) as report_in:
        report = report_in.read()
    return {
        "status": status,
        "cpu": rusage.ru_utime + rusage.ru_stime,
        "timed_out": timed_out,
        "report": report,
    }


def serve(requests: IO[str], response_fd: int, preload: tuple[str, ...] = PRELOAD) -> None:
    """The zygote's loop: preload, say ready, then launch one job per request line."""
    import importlib

    started = time.monotonic()
    for module in preload:
        importlib.import_module(module)
    responses = os.fdopen(response_fd, "w", closefd=False)

    def answer(value: dict[str, Any]) -> None:
        responses.write(json.dumps(value) + "\n")
        responses.flush()

    answer({"ready": True, "preload_seconds": time.monotonic() - started, "pid": os.getpid()})
    for line in requests:
        answer(_launch(json.loads(line), response_fd))


def main() -> None:
    # Free fd 1 for the protocol and send anything the libraries print to stderr instead.
    response_fd = os.dup(1)
    os.dup2(2, 1)
    with contextlib.suppress(BrokenPipeError):  # the worker went away
        serve(sys.stdin, response_fd)


# ------------------------------------------------------------------------- client (worker side)


class Zygote:
    """The worker side: starts the zygote process on first use and sends it jobs.

    One instance per worker process; ``launch`` is serialised by a lock.
    """

    def __init__(
        self, env: dict[str, str], *, log_path: Path | None = None, start_timeout: float = 120.0
    ) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.preload_seconds: float | None = None
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the zygote (if not running) and wait until its imports are done."""
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        log: Any = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-B", "-m", "insitu.compute.zygote"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=self.env,
                cwd="/",
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        hello = self._read(process, self.start_timeout)
        if not hello.get("ready"):
            process.kill()
            raise ZygoteError(f"the sandbox zygote did not start: {hello}")
        self.preload_seconds = float(hello.get("preload_seconds", 0.0))
        self._process = process
        return process

    @staticmethod
    def _read(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        assert process.stdout is not None
        line = process.stdout.readline()  # the zygote always answers or exits (EOF)
        if not line:
            code = process.wait(timeout)
            raise ZygoteError(f"the sandbox zygote exited (status {code}); see its log.")
        return dict(json.loads(line))

    def launch(
        self,
        spec_path: Path,
        stdout_path: Path,
        stderr_path: Path,
        cwd: Path,
        env: dict[str, str],
        wall_seconds: float,
    ) -> LaunchOutcome:
        """Run one job spec in a forked, confined child; blocks until the child ended."""
        request = {
            "spec": str(spec_path),
            "stdout": str(stdout_path),
            "stderr": str(stderr_path),
            "cwd": str(cwd),
            "env": env,
            "wall_seconds": wall_seconds,
        }
        with self._lock:
            process = self._ensure_started()
            assert process.stdin is not None
            try:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
                answer = self._read(process, 5.0)
            except (BrokenPipeError, ZygoteError) as exc:
                self._discard()
                raise ZygoteError(
                    f"the sandbox zygote died during a job ({exc}); retry it."
                ) from exc
        return LaunchOutcome(
            int(answer["status"]),
            float(answer["cpu"]),
            bool(answer["timed_out"]),
            str(answer["report"]),
        )

    def _discard(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            with contextlib.suppress(Exception):
                self._process.wait(5)
        self._process = None

    def stop(self) -> None:
        """Close the zygote's stdin (it exits) and reap it."""
        with self._lock:
            if self._process is None:
                return
            with contextlib.suppress(Exception):
                assert self._process.stdin is not None
                self._process.stdin.close()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._discard()
            self._process = None


if __name__ == "__main__":
    main()
