"""`stack up` and `stack down` from separate processes, configured through config.toml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from insitu.config import load_settings
from insitu.stack import LocalStack, ServiceState
from insitu.stack.ports import free_port
from insitu.stack.process import process_start_ticks

REPO = Path(__file__).resolve().parents[2]


def run(home: Path, code: str) -> str:
    env = {**os.environ, "INSITU_HOME": str(home), "PYTHONPATH": str(REPO)}
    for key in ("INSITU_RPC_URL", "INSITU_REDIS_URL", "INSITU_IPFS_URL", "INSITU_CONFIG"):
        env.pop(key, None)
    script = f"from insitu.config import load_settings\nfrom insitu.stack import *\n{code}"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_daemons_outlive_the_process_that_started_them(tmp_path: Path) -> None:
    anvil_port, redis_port = free_port(), free_port()
    (tmp_path / "config.toml").write_text(
        f"[local]\nanvil_port = {anvil_port}\nredis_port = {redis_port}\nchain_id = 4242\n"
    )
    settings = load_settings(home=tmp_path)
    try:
        out = run(tmp_path, "print(LocalStack(load_settings()).up().rpc_url)")
        assert out.strip() == f"http://127.0.0.1:{anvil_port}"

        # The starter has exited; this process, which is not their parent, sees and reuses them.
        rows = {s.name: s for s in LocalStack(settings).status()}
        assert rows["anvil"].state is ServiceState.RUNNING
        assert rows["redis"].endpoint == f"redis://127.0.0.1:{redis_port}/0"
        assert LocalStack(settings).up().reused == ["anvil", "redis"]
        pids = [rows["anvil"].pid, rows["redis"].pid]

        out = run(tmp_path, "print(format_status(LocalStack(load_settings()).status()))")
        assert "4242" not in out and "running" in out

        stopped = run(tmp_path, "print(LocalStack(load_settings()).down())")
        assert stopped.strip() == "['redis', 'anvil']"
        assert all(pid is not None and process_start_ticks(pid) is None for pid in pids)
    finally:
        LocalStack(settings).down()
