"""Write a model owner's inference worker config and run its processes (demo, tests).

The model is pickled into the worker's private folder (mode 0700) and named in the config's
``[assets]`` table; the keystore's password goes into the environment, never into the file.
Processes are started through ``insitu.fl.launch.Federation``, which hands them the insitu home
whose embedded IPFS store they share with the caller.
"""

from __future__ import annotations

import json
import os
import pickle
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from insitu.chain import save_keystore
from insitu.config import Settings
from insitu.fl.launch import Federation

APP = "insitu.inference.worker_app"


def write_owner_config(
    directory: Path,
    organisation: str,
    account: LocalAccount,
    models: Mapping[bytes, Any],
    *,
    rpc_url: str,
    redis_url: str,
    ipfs_url: str | None,
    escrow: str,
    start_block: int = 0,
    peer_timeout: float = 30.0,
) -> Path:
    """Write ``<directory>/<organisation>.toml``, its keystore and model files; return the path."""
    private = directory / organisation
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = f"INSITU_INFERENCE_{organisation.upper().replace('-', '_').replace('.', '_')}_PASSWORD"
    password = os.environ.get(env) or secrets.token_hex(16)
    os.environ[env] = password
    keystore = save_keystore(account, private / "key.json", password)
    top: dict[str, Any] = {
        "organisation": organisation,
        "app": APP,
        "rpc_url": rpc_url,
        "redis_url": redis_url,
        "confirmations": 0,
        "poll_interval": 0.1,
        "start_block": start_block,
        "concurrency": 1,
        "pool": "solo",
        # Above the longest session so a running job's message is not handed out again.
        "visibility_timeout": max(60.0, 4 * peer_timeout),
    }
    if ipfs_url:
        top["ipfs_url"] = ipfs_url
    lines = [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    lines += ["", "[keystore]", f"path = {json.dumps(str(keystore))}"]
    lines += [f"password_env = {json.dumps(env)}", "", "[contracts]"]
    lines += [f"AgreementEscrow = {json.dumps(escrow)}", "", "[options]"]
    lines += [f"peer_timeout = {json.dumps(peer_timeout)}"]
    for asset, model in models.items():
        path = private / f"model-{bytes(asset).hex()[:16]}.pkl"
        path.write_bytes(pickle.dumps(model))
        path.chmod(0o600)
        lines += ["", f'[assets."0x{bytes(asset).hex()}"]', f"data = {json.dumps(str(path))}"]
    config = directory / f"{organisation}.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def owner_workers(config_paths: list[Path], home: Path) -> Federation:
    """The worker units of these configs, sharing the embedded IPFS store of ``home``."""
    return Federation(config_paths, Settings(home=home))
