"""Write the worker configs of a federation and run their processes (demo, tests, benchmark).

Each bank gets its own worker unit (a Celery worker with the solo pool and a listener, two real
processes) whose config names only its own asset and data path, so a bank's tasks can read no
other bank's data; the coordinator gets one too. On a 2-core machine ten small processes are
cheaper than they look: they sleep on Redis and the chain between rounds.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from insitu.chain import save_keystore
from insitu.config import Settings
from insitu.worker import WorkerUnit, load_worker_config

APP = "insitu.fl.worker_app"
HOME_ENV = "INSITU_HOME"


@dataclass(frozen=True)
class WorkerSpec:
    """One worker to run: its organisation, role, key and what it serves."""

    organisation: str
    role: str
    account: LocalAccount
    assets: dict[str, Path]  # asset id (0x hex) -> private data file
    options: dict[str, Any]


def _toml_value(value: Any) -> str:
    return json.dumps(value)


def save_worker_keystore(
    path: Path, organisation: str, account: LocalAccount, env_prefix: str
) -> tuple[Path, str]:
    """Save ``account`` encrypted at ``path``; return it and the variable holding the password.

    The password (``$<env_prefix>_<ORGANISATION>_PASSWORD``, random unless already set) is set
    in this process's environment, which the worker processes it starts inherit; it never goes
    into a file.
    """
    env = f"{env_prefix}_{organisation.upper().replace('-', '_').replace('.', '_')}_PASSWORD"
    password = os.environ.get(env) or secrets.token_hex(16)
    os.environ[env] = password
    return save_keystore(account, path, password), env


def write_worker_config(
    directory: Path,
    spec: WorkerSpec,
    *,
    rpc_url: str,
    redis_url: str,
    ipfs_url: str | None,
    session_contract: str,
    start_block: int = 0,
    visibility_timeout: float = 60.0,
    app: str = APP,
    env_prefix: str = "INSITU_FL",
    asset_keys: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write ``<directory>/<org>.toml`` and an encrypted keystore; returns the config path.

    The keystore password goes into the environment variable named in the config (set here in
    this process, inherited by the worker processes it starts), never into the file. ``app`` is
    the worker's app module, ``env_prefix`` starts that variable's name, and ``asset_keys`` adds
    keys after ``data`` to an asset's table (e.g. a generator provider's ``mapping``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    keystore_path = directory / f"{spec.organisation}.key.json"
    keystore, env = save_worker_keystore(keystore_path, spec.organisation, spec.account, env_prefix)
    top: dict[str, Any] = {
        "organisation": spec.organisation,
        "app": app,
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
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    lines += ["", "[keystore]", f"path = {_toml_value(str(keystore))}"]
    lines += [f"password_env = {_toml_value(env)}", "", "[contracts]"]
    lines += [f"FederatedSession = {_toml_value(session_contract)}", "", "[options]"]
    options = {"role": spec.role, "address": spec.account.address, **spec.options}
    lines += [f"{k} = {_toml_value(v)}" for k, v in options.items()]
    for asset, data in spec.assets.items():
        lines += ["", f"[assets.{_toml_value(asset)}]", f"data = {_toml_value(str(data))}"]
        extra = (asset_keys or {}).get(asset, {})
        lines += [f"{k} = {_toml_value(v)}" for k, v in extra.items()]
    path = directory / f"{spec.organisation}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Federation:
    """The worker units of a set of configs, started and stopped together."""

    def __init__(self, config_paths: Sequence[Path], settings: Settings) -> None:
        self.settings = settings
        self.units = [WorkerUnit(load_worker_config(p, settings)) for p in config_paths]

    def start(self) -> None:
        """Start every unit in parallel (imports overlap); on failure stop what started.

        The workers inherit ``INSITU_HOME`` = this settings' home, so that with the embedded
        IPFS store they read and write the same blocks as this process.
        """
        previous = os.environ.get(HOME_ENV)
        os.environ[HOME_ENV] = str(self.settings.home)
        try:
            with ThreadPoolExecutor(max_workers=len(self.units)) as pool:
                futures = [pool.submit(u.start) for u in self.units]
                errors = [f.exception() for f in futures]
        finally:
            if previous is None:
                os.environ.pop(HOME_ENV, None)
            else:
                os.environ[HOME_ENV] = previous
        failed = [e for e in errors if e is not None]
        if failed:
            self.stop()
            raise failed[0]

    def stop(self) -> None:
        """Stop every process this federation started (listener first, then Celery)."""
        with ThreadPoolExecutor(max_workers=max(len(self.units), 1)) as pool:
            list(pool.map(lambda u: u.stop(), self.units))

    def logs(self, lines: int = 30) -> str:
        out = []
        for unit in self.units:
            for piece in unit.pieces:
                out.append(f"--- {unit.config.organisation} {piece} ---")
                out.append(unit.log_tail(piece, lines))
        return "\n".join(out)

    def __enter__(self) -> Federation:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
