"""A worker "unit" as real processes: the Celery worker and the listener, each with pid + log.

Both run detached (own session) with pid files and logs under ``config.state_dir``
(``<home>/workers/<organisation>/{celery,listener}.{pid,log}``), managed by the stack's ``Daemon``,
so a CLI or a test can stop, SIGKILL and restart each piece on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from insitu.stack.process import Daemon, PidRecord, ProcessState, process_start_ticks, tail
from insitu.worker.config import CONFIG_ENV, WorkerConfig
from insitu.worker.errors import WorkerConfigError, WorkerError

CELERY = "celery"
LISTENER = "listener"
PIECES = (CELERY, LISTENER)
#: What each piece writes to its log once it is serving.
_READY_MARKS = {CELERY: " ready.", LISTENER: "watching"}


@dataclass(frozen=True)
class PieceStatus:
    name: str
    state: ProcessState
    pid: int | None
    log_path: str


class WorkerUnit:
    """Starts, stops, kills and restarts the processes of one provider worker."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        python: str = sys.executable,
        ready_timeout: float = 30.0,
        stop_timeout: float = 15.0,
    ) -> None:
        if config.path is None:
            raise WorkerConfigError("a worker unit needs a config loaded from a file.")
        self.config = config
        self.python = python
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout

    def daemon(self, piece: str) -> Daemon:
        if piece not in PIECES:
            raise WorkerError(f"unknown worker piece {piece!r}; pieces: {PIECES}.")
        return Daemon(piece, self.config.state_dir)

    def command(self, piece: str) -> list[str]:
        cfg = self.config
        if piece == LISTENER:
            return [self.python, "-m", "insitu.worker.listen", "--config", str(cfg.path)]
        return [
            self.python, "-m", "celery", "-A", cfg.app, "worker",
            "--pool", cfg.pool,
            "--concurrency", str(cfg.concurrency),
            "-Q", cfg.queue,
            "-n", f"{cfg.organisation}@%h",
            "--loglevel", "INFO",
            # Mingle, gossip and worker heartbeats cost ~1 s at start and chatter on the broker;
            # a provider's worker needs none of them.
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        cfg = self.config
        env = dict(os.environ)
        env[CONFIG_ENV] = str(cfg.path)
        env["INSITU_REDIS_URL"] = cfg.redis_url
        env["INSITU_RPC_URL"] = cfg.rpc_url
        if cfg.ipfs_url:
            env["INSITU_IPFS_URL"] = cfg.ipfs_url
        paths = [str(p) for p in cfg.pythonpath]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def pieces(self) -> tuple[str, ...]:
        """The processes of this worker: no listener when its config says ``listen = false``."""
        return PIECES if self.config.listen else (CELERY,)

    def start(self, pieces: Sequence[str] | None = None) -> dict[str, PidRecord]:
        """Start the pieces not already running and wait until each serves; returns their pids.

        If one fails, those this call started are stopped again before the error propagates.
        """
        pieces = self.pieces if pieces is None else pieces
        started: dict[str, PidRecord] = {}
        try:
            # Spawn all, then wait: the pieces import their app module in parallel.
            for piece in pieces:
                daemon = self.daemon(piece)
                state, record = daemon.state()
                if state is ProcessState.RUNNING and record is not None:
                    continue
                daemon.clean_stale()
                started[piece] = daemon.start(self.command(piece), piece, env=self.env())
            for piece, record in started.items():
                daemon = self.daemon(piece)
                mark = _READY_MARKS[piece]
                daemon.wait_ready(
                    record, lambda d=daemon, m=mark: _log_has(d, m), self.ready_timeout
                )
        except BaseException:
            for piece in started:
                self.daemon(piece).stop(self.stop_timeout)
            raise
        return started

    def stop(self, pieces: Sequence[str] = (LISTENER, CELERY)) -> list[str]:
        """SIGTERM (then SIGKILL) the pieces; the listener first, so nothing is enqueued late.

        A Celery worker finishes its current jobs on SIGTERM (warm shutdown) within
        ``stop_timeout``; after that it is killed and its jobs are redelivered later.
        """
        return [piece for piece in pieces if self.daemon(piece).stop(self.stop_timeout)]

    def kill(self, piece: str) -> bool:
        """SIGKILL a piece and all its processes (pool children included), as a crash would."""
        daemon = self.daemon(piece)
        state, record = daemon.state()
        if state is not ProcessState.RUNNING or record is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while process_start_ticks(record.pid) == record.start_ticks:
            # Reap it if we started it, or it stays a zombie that still counts as alive.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(record.pid, os.WNOHANG)
            if time.monotonic() > deadline:
                raise WorkerError(f"{piece} (pid {record.pid}) survived SIGKILL.")
            time.sleep(0.02)
        daemon.clean_stale()
        return True

    def restart(self, piece: str) -> PidRecord:
        self.daemon(piece).stop(self.stop_timeout)
        return self.start([piece])[piece]

    def status(self) -> list[PieceStatus]:
        rows = []
        for piece in self.pieces:
            daemon = self.daemon(piece)
            state, record = daemon.state()
            pid = record.pid if record and state is ProcessState.RUNNING else None
            rows.append(PieceStatus(piece, state, pid, str(daemon.log_path)))
        return rows

    def log_tail(self, piece: str, lines: int = 40) -> str:
        return tail(self.daemon(piece).log_path, lines)


def _log_has(daemon: Daemon, mark: str) -> bool:
    try:
        return mark in daemon.log_path.read_text(errors="replace")
    except FileNotFoundError:
        return False
