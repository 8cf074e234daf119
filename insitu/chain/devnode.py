"""A throwaway anvil for tests and benchmarks: fresh chain, free port, stopped on exit.

The long-lived local stack (``insitu stack up``) is ``insitu.stack``; this is the minimal
chain-only node that a test session or a benchmark run owns outright.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from insitu.chain.connection import DEV_MNEMONIC
from insitu.errors import StackError
from insitu.stack.anvil import find_anvil


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def ephemeral_anvil(chain_id: int = 31337, timeout: float = 20.0) -> Iterator[str]:
    """Start anvil on 127.0.0.1:<free port>; yield its URL; stop it on exit."""
    port = free_port()
    cmd = [
        str(find_anvil()),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--chain-id", str(chain_id),
        "--mnemonic", DEV_MNEMONIC,
        # Keeps anvil from writing old states to ~/.foundry (see TOOLCHAIN.md).
        "--prune-history",
        "--silent",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url, timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise StackError(f"anvil exited at start (code {proc.returncode}): {err.strip()}")
        try:
            if requests.post(url, json=body, timeout=0.5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise StackError(f"anvil did not answer at {url} within {timeout:.0f} s.")
