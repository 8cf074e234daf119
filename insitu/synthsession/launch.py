"""Write generator-session worker configs; run them with ``insitu.fl.launch.Federation``.

A provider's config names its own asset(s) with the private data file and its local mapping
file, nothing else, so its tasks can read no other provider's rows; the coordinator's names its
validation set. Each worker is a real Celery worker (solo pool) plus a listener process.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from insitu.chain import save_keystore

APP = "insitu.synthsession.worker_app"


@dataclass(frozen=True)
class SynthWorkerSpec:
    """One worker to run: organisation, role, key, and (providers) its assets."""

    organisation: str
    role: str  # "provider" or "coordinator"
    account: LocalAccount
    #: asset id (0x hex) -> (private data CSV, local mapping JSON)
    assets: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def _toml(value: Any) -> str:
    # JSON strings, numbers and booleans are valid TOML values.
    return json.dumps(value)


def write_synth_worker_config(
    directory: Path,
    spec: SynthWorkerSpec,
    *,
    rpc_url: str,
    redis_url: str,
    ipfs_url: str | None,
    session_contract: str,
    start_block: int = 0,
    visibility_timeout: float = 60.0,
) -> Path:
    """Write ``<directory>/<org>.toml`` and an encrypted keystore; returns the config path.

    The keystore password goes into the environment variable named in the config (set in this
    process and inherited by the worker processes it starts), never into the file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    env = f"INSITU_SYNTH_{spec.organisation.upper().replace('-', '_').replace('.', '_')}_PASSWORD"
    password = os.environ.get(env) or secrets.token_hex(16)
    os.environ[env] = password
    keystore = save_keystore(spec.account, directory / f"{spec.organisation}.key.json", password)
    top: dict[str, Any] = {
        "organisation": spec.organisation,
        "app": APP,
        "rpc_url": rpc_url,
        "redis_url": redis_url,
        "confirmations": 0,
        "poll_interval": 0.1,
        "start_block": start_block,
        "concurrency": 1,
        "pool": "solo",
        "visibility_timeout": visibility_timeout,
    }
    if ipfs_url:
        top["ipfs_url"] = ipfs_url
    lines = [f"{k} = {_toml(v)}" for k, v in top.items()]
    lines += ["", "[keystore]", f"path = {_toml(str(keystore))}", f"password_env = {_toml(env)}"]
    lines += ["", "[contracts]", f"FederatedSession = {_toml(session_contract)}", "", "[options]"]
    options = {"role": spec.role, "address": spec.account.address, **spec.options}
    lines += [f"{k} = {_toml(v)}" for k, v in options.items()]
    for asset, (data, mapping) in spec.assets.items():
        lines += ["", f"[assets.{_toml(asset)}]", f"data = {_toml(str(data))}"]
        lines.append(f"mapping = {_toml(str(mapping))}")
    path = directory / f"{spec.organisation}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
