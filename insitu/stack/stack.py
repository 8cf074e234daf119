"""The local stack: anvil, Redis and the embedded IPFS store, started on demand.

A service whose URL is configured (``rpc_url``, ``redis_url``, ``ipfs_url``) is external: it is
only checked, never started or stopped. The others run as daemons recorded in pid files under
``settings.state_dir``, so ``insitu stack up`` in one shell and ``insitu stack down`` in another
see the same processes, and a second ``up`` reuses healthy ones instead of starting duplicates.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import requests

from insitu.config import Settings
from insitu.errors import StackError
from insitu.stack.anvil import AnvilService
from insitu.stack.ports import port_is_free
from insitu.stack.process import Daemon, PidRecord, ProcessState
from insitu.stack.redis import RedisService
from insitu.stack.service import LocalService

IPFS = "ipfs"
# How long a port may stay busy after our own daemon on it exited (a crashed node that was not
# our child, e.g. one started by another shell, is reaped by its parent in its own time).
_PORT_GRACE = 2.0


class ServiceState(StrEnum):
    """The state ``insitu stack status`` reports for a service."""

    RUNNING = "running"
    # The pid file's process is alive but the service does not answer (hung, or still starting).
    UNRESPONSIVE = "unresponsive"
    STALE = "stale"
    STOPPED = "stopped"
    UNREACHABLE = "unreachable"
    # The IPFS store is a directory used in-process, not a daemon.
    EMBEDDED = "embedded"


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``insitu stack status``."""

    name: str
    state: ServiceState
    endpoint: str
    pid: int | None
    external: bool

    @property
    def location(self) -> str:
        return "external" if self.external else "local"


@dataclass(frozen=True)
class Endpoints:
    """Where each service answers after ``LocalStack.up()``."""

    rpc_url: str
    redis_url: str
    #: A Kubo RPC URL, or ``None`` for the embedded store in ``ipfs_store_dir``.
    ipfs_url: str | None
    ipfs_store_dir: Path
    started: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)


class LocalStack:
    """Starts, reuses, checks and stops the services of ``settings``.

    ``persist_state`` keeps anvil's chain (``--state`` file) and Redis' data (append-only file)
    across restarts; see ``AnvilService`` for the trade-offs. Use it as a context manager to stop,
    on exit, exactly the services that this ``up()`` started::

        with LocalStack(settings) as endpoints:
            web3 = Web3(HTTPProvider(endpoints.rpc_url))
    """

    def __init__(
        self,
        settings: Settings,
        *,
        persist_state: bool = False,
        ready_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.services: dict[str, LocalService] = {
            svc.name: svc
            for svc in (
                AnvilService(settings, persist_state=persist_state),
                RedisService(settings, persist_state=persist_state),
            )
        }
        self._started_here: list[str] = []

    # -- whole stack -------------------------------------------------------------------------

    def up(self) -> Endpoints:
        """Start what is neither configured by URL nor already running; return the endpoints.

        If one service fails to start, those this call started are stopped again before the
        error propagates, so a failed ``up`` leaves nothing behind.
        """
        urls: dict[str, str] = {}
        started: list[str] = []
        reused: list[str] = []
        external: list[str] = []
        with self._lock():
            try:
                for name, svc in self.services.items():
                    ext = svc.external_url
                    if ext is not None:
                        svc.check_external(ext)
                        urls[name] = ext
                        external.append(name)
                        continue
                    daemon = self._daemon(name)
                    state, record = daemon.state()
                    if state is ProcessState.RUNNING and record is not None:
                        urls[name] = self._reuse(svc, daemon, record)
                        reused.append(name)
                    else:
                        stale = daemon.clean_stale()
                        grace = _PORT_GRACE if stale is not None else 0.0
                        record = self._start(svc, daemon, svc.command(), svc.url, grace)
                        urls[name] = record.endpoint
                        started.append(name)
            except BaseException:
                for name in reversed(started):
                    self._daemon(name).stop(self.stop_timeout)
                raise
        if self.settings.ipfs_url is None:
            self.settings.ipfs_store_dir.mkdir(parents=True, exist_ok=True)
        else:
            external.append(IPFS)
        self._started_here = [*self._started_here, *started]
        return Endpoints(
            rpc_url=urls["anvil"],
            redis_url=urls["redis"],
            ipfs_url=self.settings.ipfs_url,
            ipfs_store_dir=self.settings.ipfs_store_dir,
            started=started,
            reused=reused,
            external=external,
        )

    def down(self, only: list[str] | None = None) -> list[str]:
        """Stop the local services of our pid files (or only those named); return those stopped.

        External services are never touched. Idempotent; stale pid files are removed.
        """
        stopped: list[str] = []
        with self._lock():
            for name in reversed(list(self.services)):
                if only is not None and name not in only:
                    continue
                if self._daemon(name).stop(self.stop_timeout):
                    stopped.append(name)
        self._started_here = [n for n in self._started_here if n not in stopped]
        return stopped

    def status(self) -> list[ServiceStatus]:
        """The state of every service, including external ones (probed) and the IPFS store."""
        rows = [self._service_status(svc) for svc in self.services.values()]
        if self.settings.ipfs_url is None:
            rows.append(
                ServiceStatus(
                    IPFS, ServiceState.EMBEDDED, str(self.settings.ipfs_store_dir), None, False
                )
            )
        else:
            url = self.settings.ipfs_url
            state = ServiceState.RUNNING if _kubo_answers(url) else ServiceState.UNREACHABLE
            rows.append(ServiceStatus(IPFS, state, url, None, True))
        return rows

    # -- one service -------------------------------------------------------------------------

    def restart(self, name: str) -> ServiceStatus:
        """Stop the local service ``name`` and start it again on the same port and data.

        The recorded command line is reused, so the service comes back exactly as it ran even if
        the settings changed since. Works after a crash too (the stale pid file is replaced).
        """
        svc = self._local(name)
        daemon = self._daemon(name)
        with self._lock():
            record = daemon.read()
            command = record.command if record else svc.command()
            endpoint = record.endpoint if record else svc.url
            daemon.stop(self.stop_timeout)
            new = self._start(svc, daemon, command, endpoint, _PORT_GRACE)
        return ServiceStatus(name, ServiceState.RUNNING, new.endpoint, new.pid, False)

    def stop_service(self, name: str) -> bool:
        """Stop one local service (SIGTERM, then SIGKILL); returns whether it was running."""
        self._local(name)
        return bool(self.down(only=[name]))

    def pid_record(self, name: str) -> PidRecord | None:
        """The pid file of a local service, e.g. for a test that kills it on purpose."""
        return self._daemon(self._local(name).name).read()

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> Endpoints:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._started_here:
            self.down(only=list(self._started_here))

    # -- internals ---------------------------------------------------------------------------

    def _daemon(self, name: str) -> Daemon:
        return Daemon(name, self.settings.state_dir)

    def _local(self, name: str) -> LocalService:
        svc = self.services.get(name)
        if svc is None:
            raise StackError(f"unknown service {name!r}; local services: {list(self.services)}.")
        if svc.external_url is not None:
            raise StackError(
                f"{name} is external ({svc.url_setting}={svc.external_url}); insitu does not "
                "start or stop it."
            )
        return svc

    def _reuse(self, svc: LocalService, daemon: Daemon, record: PidRecord) -> str:
        wanted = svc.command()
        if record.command != wanted:
            raise StackError(
                f"{svc.name} (pid {record.pid}) runs with other options than the current "
                f"settings ask for:\n  running: {' '.join(record.command)}\n  wanted:  "
                f"{' '.join(wanted)}\nrun `insitu stack down` then `insitu stack up` to apply "
                "them (a fresh anvil starts a new chain)."
            )
        daemon.wait_ready(record, lambda: svc.answers(record.endpoint), self.ready_timeout)
        return record.endpoint

    def _start(
        self,
        svc: LocalService,
        daemon: Daemon,
        command: list[str],
        endpoint: str,
        port_grace: float = 0.0,
    ) -> PidRecord:
        host, port = _host_port(endpoint)
        if not _wait_port_free(host, port, port_grace):
            raise self._port_taken(svc, host, port)
        record = daemon.start(command, endpoint)
        try:
            daemon.wait_ready(record, lambda: svc.answers(endpoint), self.ready_timeout)
        except StackError as exc:
            daemon.stop(self.stop_timeout)
            # Another process may have bound the port between our check and the daemon's bind.
            if not port_is_free(host, port):
                raise self._port_taken(svc, host, port) from exc
            raise
        return record

    def _port_taken(self, svc: LocalService, host: str, port: int) -> StackError:
        config = os.environ.get("INSITU_CONFIG") or str(self.settings.home / "config.toml")
        return StackError(
            f"cannot start {svc.name}: port {port} on {host} is already in use by a process "
            f"insitu did not start. Stop that process, or choose another port with\n"
            f"  [local]\n  {svc.port_setting} = <free port>\nin {config}; or, if that is a "
            f"{svc.name} you want insitu to use, set {svc.url_setting} to its URL."
        )

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # Serialises up/down/restart of the same home across processes (two shells, xdist).
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.settings.state_dir / "stack.lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _service_status(self, svc: LocalService) -> ServiceStatus:
        ext = svc.external_url
        if ext is not None:
            state = ServiceState.RUNNING if svc.answers(ext, 1.0) else ServiceState.UNREACHABLE
            return ServiceStatus(svc.name, state, ext, None, True)
        proc_state, record = self._daemon(svc.name).state()
        endpoint = record.endpoint if record else svc.url
        pid = record.pid if record else None
        if proc_state is ProcessState.RUNNING:
            healthy = svc.answers(endpoint, 1.0)
            state = ServiceState.RUNNING if healthy else ServiceState.UNRESPONSIVE
        else:
            state = ServiceState(proc_state.value)
        return ServiceStatus(svc.name, state, endpoint, pid, False)


def _wait_port_free(host: str, port: int, grace: float) -> bool:
    deadline = time.monotonic() + grace
    while not port_is_free(host, port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _host_port(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    if parts.hostname is None or parts.port is None:
        raise StackError(f"cannot tell host and port of endpoint {endpoint!r}.")
    return parts.hostname, parts.port


def _kubo_answers(url: str, timeout: float = 1.0) -> bool:
    # The Kubo RPC API only accepts POST.
    try:
        return requests.post(f"{url.rstrip('/')}/api/v0/version", timeout=timeout).ok
    except requests.RequestException:
        return False
