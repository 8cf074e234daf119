"""A small manager for daemon processes that outlive the command that started them.

Each daemon is described by a pid file ``<state_dir>/<name>.pid`` (JSON) holding its pid, its start
time as the kernel reports it, the command line and the endpoint it serves. The start time is what
makes ``stop()`` safe: after a crash and a reboot or a long uptime, the pid may belong to an
unrelated process, and only a matching start time proves it is still ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from insitu.errors import StackError

LOG_TAIL_LINES = 20
_POLL_SECONDS = 0.05

# Daemons started by this process, kept so that we (not Popen's finaliser, which warns and reaps
# behind our back) collect their exit codes, and know when one has fully exited: the thread-group
# leader of a multi-threaded daemon like anvil turns zombie before its other threads have closed
# the listening socket, and only waiting on it proves the port is released.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ProcessState(StrEnum):
    """What a pid file says about its daemon."""

    RUNNING = "running"
    # A pid file whose process is gone (crash, SIGKILL, reboot) or was replaced by another one.
    STALE = "stale"
    STOPPED = "stopped"


@dataclass(frozen=True)
class PidRecord:
    """The content of a pid file."""

    name: str
    pid: int
    start_ticks: int
    command: list[str]
    endpoint: str
    started_at: float


def process_start_ticks(pid: int, *, zombies: bool = False) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or ``None`` if no live process has it.

    Zombies count as gone unless ``zombies``: a daemon that died while its starter is still
    running stays a zombie until reaped, and must not be reported as running.
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    state, start_ticks = fields[0], fields[19]
    if state in ("Z", "X") and not zombies:
        return None
    return int(start_ticks)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file, or a note saying it is missing."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(kept) if kept else f"(log {path} is empty)"


class Daemon:
    """One named daemon with its pid file and log in ``state_dir``."""

    def __init__(self, name: str, state_dir: Path) -> None:
        self.name = name
        self.state_dir = state_dir
        self.pid_path = state_dir / f"{name}.pid"
        self.log_path = state_dir / f"{name}.log"

    def read(self) -> PidRecord | None:
        """The pid file's record, or ``None`` if there is none (a corrupt file counts as none)."""
        try:
            data = json.loads(self.pid_path.read_text())
            return PidRecord(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            # A half-written pid file (crash during start) carries no pid we could trust.
            return None

    def state(self) -> tuple[ProcessState, PidRecord | None]:
        """Whether the daemon of the pid file is running, stale or absent."""
        if not self.pid_path.exists():
            return ProcessState.STOPPED, None
        record = self.read()
        if record is None:
            return ProcessState.STALE, None
        if process_start_ticks(record.pid) != record.start_ticks:
            return ProcessState.STALE, record
        return ProcessState.RUNNING, record

    def clean_stale(self) -> PidRecord | None:
        """Remove the pid file if its process is gone; returns the stale record if there was one."""
        state, record = self.state()
        if state is ProcessState.STALE:
            self.pid_path.unlink(missing_ok=True)
            if record is not None:
                # A crashed child of ours may still be closing its sockets: let it finish.
                self._wait_gone(record, 2.0)
            return record
        return None

    def start(
        self,
        command: Sequence[str],
        endpoint: str,
        env: Mapping[str, str] | None = None,
    ) -> PidRecord:
        """Start ``command`` detached from us and record it in the pid file.

        The daemon gets its own session (no controlling terminal, not in our process group), so a
        Ctrl-C in the shell that ran ``insitu stack up`` does not reach it and it survives our exit.
        """
        state, record = self.state()
        if state is ProcessState.RUNNING:
            raise StackError(
                f"{self.name} is already running (pid {record.pid if record else '?'}); "
                "stop it first with `insitu stack down`."
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.pid_path.unlink(missing_ok=True)
        # Keep the previous run's log: after a crash it is the only trace of what happened.
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        with self.log_path.open("wb") as log:
            proc = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env=dict(env) if env is not None else None,
            )
        start_ticks = process_start_ticks(proc.pid)
        if start_ticks is None:
            raise self._exited(list(command), proc.wait())
        _CHILDREN[proc.pid] = proc
        record = PidRecord(
            name=self.name,
            pid=proc.pid,
            start_ticks=start_ticks,
            command=list(command),
            endpoint=endpoint,
            started_at=time.time(),
        )
        tmp = self.pid_path.with_suffix(".pid.tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(self.pid_path)
        return record

    def wait_ready(self, record: PidRecord, probe: Callable[[], bool], timeout: float) -> float:
        """Poll ``probe`` until it returns true; returns the seconds waited.

        Fails early if the daemon exits, and on timeout; both errors quote the end of the log.
        """
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if probe():
                return time.monotonic() - started
            finished, code = self._finished(record)
            if finished:
                self.pid_path.unlink(missing_ok=True)
                raise self._exited(record.command, code)
            if time.monotonic() >= deadline:
                raise StackError(
                    f"{self.name} (pid {record.pid}) did not answer at {record.endpoint} within "
                    f"{timeout:.0f} s.\nlast lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(_POLL_SECONDS)

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM the daemon, SIGKILL it after ``timeout`` s, remove the pid file.

        Returns whether a running process was stopped. Idempotent; a stale pid file is only
        removed, never signalled, since its pid may now belong to someone else.
        """
        state, record = self.state()
        if state is not ProcessState.RUNNING or record is None:
            self.pid_path.unlink(missing_ok=True)
            if record is not None:
                self._finished(record)
            return False
        self._signal(record, signal.SIGTERM)
        if not self._wait_gone(record, timeout):
            self._signal(record, signal.SIGKILL)
            if not self._wait_gone(record, 5.0):
                raise StackError(
                    f"{self.name} (pid {record.pid}) survived SIGKILL; check `ps -p {record.pid}`."
                )
        self.pid_path.unlink(missing_ok=True)
        return True

    def _exited(self, command: list[str], code: int | None) -> StackError:
        status = f" (exit code {code})" if code is not None else ""
        return StackError(
            f"{self.name} exited before it was ready{status}.\n"
            f"command: {' '.join(command)}\n"
            f"last lines of {self.log_path}:\n{tail(self.log_path)}"
        )

    def _signal(self, record: PidRecord, sig: signal.Signals) -> None:
        # Re-check identity right before signalling so a recycled pid is never hit; zombies
        # count, as their other threads may still run. The process group is the daemon's own
        # (own session), so anything it spawned gets the signal too.
        if process_start_ticks(record.pid, zombies=True) != record.start_ticks:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, sig)

    def _wait_gone(self, record: PidRecord, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._finished(record)[0]:
                return True
            time.sleep(_POLL_SECONDS)
        return False

    @staticmethod
    def _finished(record: PidRecord) -> tuple[bool, int | None]:
        """Whether the daemon has exited, and its exit code if it was our child."""
        child = _CHILDREN.get(record.pid)
        if child is not None:
            code = child.poll()
            if code is None:
                return False, None
            del _CHILDREN[record.pid]
            return True, code
        # Not ours: its parent (init, or whoever started it) reaps it; a zombie counts as gone.
        return process_start_ticks(record.pid) != record.start_ticks, None
