"""Start and stop the test-only js-ipfs node of tests/ipfs-node (a Kubo-compatible RPC API).

Recipe from TOOLCHAIN.md: ``jsipfs init --profile=test`` into a fresh IPFS_PATH, API / gateway /
swarm on free 127.0.0.1 ports (an empty swarm list hangs the daemon), plus js-ipfs's gRPC
listener ``Addresses.RPC`` (fixed 5003 by default: two nodes would collide), then
``jsipfs daemon --offline --enable-preload=false`` so it never dials outside. The daemon runs in
its own process group, killed as a whole at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

NODE_DIR = Path(__file__).resolve().parents[1] / "ipfs-node"
JSIPFS = NODE_DIR / "node_modules" / ".bin" / "jsipfs"


def node_installed() -> bool:
    """Whether ``npm install`` has been run in tests/ipfs-node."""
    return JSIPFS.exists()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningNode:
    """A started daemon: its RPC URL and repository."""

    api_url: str
    ipfs_path: Path
    pid: int


def _configure(ipfs_path: Path) -> int:
    config_path = ipfs_path / "config"
    config = json.loads(config_path.read_text())
    api_port = free_port()
    config["Addresses"]["API"] = f"/ip4/127.0.0.1/tcp/{api_port}"
    config["Addresses"]["Gateway"] = f"/ip4/127.0.0.1/tcp/{free_port()}"
    config["Addresses"]["Swarm"] = [f"/ip4/127.0.0.1/tcp/{free_port()}"]
    config["Addresses"]["RPC"] = f"/ip4/127.0.0.1/tcp/{free_port()}"
    config_path.write_text(json.dumps(config, indent=2))
    return api_port


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _start(
    ipfs_path: Path, env: dict[str, str], log_path: Path, ready_timeout: float
) -> tuple[subprocess.Popen[bytes], str]:
    api_url = f"http://127.0.0.1:{_configure(ipfs_path)}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(JSIPFS), "daemon", "--offline", "--enable-preload=false"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + ready_timeout
    # The API may answer before the last listener fails, so wait for the daemon's own word too.
    while "Daemon is ready" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(
                f"jsipfs daemon did not start:\n{log_path.read_text(errors='replace')[-2000:]}"
            )
        time.sleep(0.1)
    requests.post(f"{api_url}/api/v0/version", timeout=5).raise_for_status()
    return process, api_url


@contextlib.contextmanager
def running_node(workdir: Path, *, ready_timeout: float = 60.0) -> Iterator[RunningNode]:
    """Init a repo under ``workdir``, start the daemon, yield it once it answers, stop it."""
    ipfs_path = workdir / "ipfs-repo"
    env = {**os.environ, "IPFS_PATH": str(ipfs_path)}
    subprocess.run(
        [str(JSIPFS), "init", "--profile=test"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    log_path = workdir / "daemon.log"
    for attempt in range(3):
        try:
            process, api_url = _start(ipfs_path, env, log_path, ready_timeout)
            break
        except RuntimeError:
            # A free port found by bind(0) can be taken before the daemon binds it: retry.
            if attempt == 2 or "EADDRINUSE" not in log_path.read_text(errors="replace"):
                raise
    try:
        yield RunningNode(api_url=api_url, ipfs_path=ipfs_path, pid=process.pid)
    finally:
        _stop(process)
