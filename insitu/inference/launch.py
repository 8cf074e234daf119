"""Write the worker configs of private inference — a model owner's, a dealer's — and run them.

The model is pickled into the owner worker's private folder (mode 0700) and named in the
config's ``[assets]`` table; the keystore's password goes into the environment, never into the
file. The dealer's worker (``listen = false``: Celery only) has a key and no assets.
Processes are started through ``insitu.fl.launch.Federation``, which hands them the insitu home
whose embedded IPFS store they share with the caller.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from insitu.config import Settings
from insitu.fl.launch import Federation, save_worker_keystore

APP = "insitu.inference.worker_app"
DEALER_APP = "insitu.inference.dealer_app"


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
    dealers: Mapping[str, str],
    start_block: int = 0,
    peer_timeout: float = 30.0,
    dealer_timeout: float = 30.0,
) -> Path:
    """Write ``<directory>/<organisation>.toml``, its keystore and model files; return the path.

    ``dealers`` maps each dealer address the offer accepts to its worker's queue (on
    ``redis_url``; a dealer organisation's queue is ``insitu.worker.queue_name(organisation)``).
    """
    private, keystore, env = _private_folder(directory, organisation, account)
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
    lines = _common_lines(top, ipfs_url, keystore, env, escrow)
    lines += ["", "[options]", f"peer_timeout = {json.dumps(peer_timeout)}"]
    lines += [f"dealer_timeout = {json.dumps(dealer_timeout)}", "", "[options.dealers]"]
    lines += [f"{json.dumps(address)} = {json.dumps(queue)}" for address, queue in dealers.items()]
    for asset, model in models.items():
        path = private / f"model-{bytes(asset).hex()[:16]}.pkl"
        path.write_bytes(pickle.dumps(model))
        path.chmod(0o600)
        lines += ["", f'[assets."0x{bytes(asset).hex()}"]', f"data = {json.dumps(str(path))}"]
    config = directory / f"{organisation}.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def write_dealer_config(
    directory: Path,
    organisation: str,
    account: LocalAccount,
    *,
    rpc_url: str,
    redis_url: str,
    ipfs_url: str | None,
    escrow: str,
) -> Path:
    """Write a dealer worker's ``<directory>/<organisation>.toml`` and keystore; return the path."""
    _, keystore, env = _private_folder(directory, organisation, account)
    top: dict[str, Any] = {
        "organisation": organisation,
        "app": DEALER_APP,
        "listen": False,
        "rpc_url": rpc_url,
        "redis_url": redis_url,
        "concurrency": 1,
        "pool": "solo",
    }
    lines = _common_lines(top, ipfs_url, keystore, env, escrow)
    config = directory / f"{organisation}.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def _common_lines(
    top: dict[str, Any], ipfs_url: str | None, keystore: Path, env: str, escrow: str
) -> list[str]:
    """The top-level keys, ``[keystore]`` and ``[contracts]`` of either worker's config."""
    if ipfs_url:
        top = {**top, "ipfs_url": ipfs_url}
    lines = [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    lines += ["", "[keystore]", f"path = {json.dumps(str(keystore))}"]
    lines += [f"password_env = {json.dumps(env)}", "", "[contracts]"]
    return [*lines, f"AgreementEscrow = {json.dumps(escrow)}"]


def _private_folder(
    directory: Path, organisation: str, account: LocalAccount
) -> tuple[Path, Path, str]:
    """The organisation's 0700 folder, its keystore, and the variable holding its password."""
    private = directory / organisation
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    keystore, env = save_worker_keystore(
        private / "key.json", organisation, account, "INSITU_INFERENCE"
    )
    return private, keystore, env


def owner_workers(config_paths: list[Path], home: Path) -> Federation:
    """The worker units of these configs (owners' and dealers'), sharing the embedded IPFS
    store of ``home``."""
    return Federation(config_paths, Settings(home=home))
