"""A throwaway anvil for tests and benchmarks: fresh chain, free port, stopped on exit.

The long-lived local stack (``insitu stack up``) is ``insitu.stack``; this runs the same
``AnvilService`` (same flags, same readiness check) under a temporary home that the test
session or benchmark run owns outright, without Redis.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from insitu.config import LocalStackSettings, Settings
from insitu.stack.anvil import AnvilService
from insitu.stack.ports import free_port
from insitu.stack.process import Daemon

__all__ = ["ephemeral_anvil", "free_port"]


@contextmanager
def ephemeral_anvil(chain_id: int = 31337, timeout: float = 20.0) -> Iterator[str]:
    """Start anvil on 127.0.0.1:<free port>; yield its URL; stop it on exit."""
    with tempfile.TemporaryDirectory(prefix="insitu-anvil-") as home:
        settings = Settings(
            home=Path(home), local=LocalStackSettings(anvil_port=free_port(), chain_id=chain_id)
        )
        service = AnvilService(settings)
        daemon = Daemon(service.name, settings.state_dir)
        record = daemon.start(service.command(), service.url)
        try:
            daemon.wait_ready(record, lambda: service.answers(service.url), timeout)
            yield service.url
        finally:
            daemon.stop(10.0)
