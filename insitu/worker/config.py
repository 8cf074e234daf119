"""The provider worker's config file (TOML) and its loader.

Example (``workers/provider.example.toml`` is a complete one)::

    organisation = "acme-labs"                  # names the queue, the pid/log files, the listener
    app = "insitu.compute.worker_app"           # module with the Celery `app` and `listener_spec`
    # queue = "insitu.acme-labs"                # default: insitu.<organisation>
    # rpc_url / redis_url / ipfs_url            # default: insitu's settings, else the local stack
    confirmations = 0                           # blocks to wait before reading an event
    poll_interval = 0.25                        # seconds between polls once caught up
    start_block = 0                             # where a listener without checkpoint starts
    concurrency = 2                             # Celery worker processes
    pool = "prefork"                            # or "solo" (one job at a time, in-process)
    visibility_timeout = 30                     # s before a killed worker's job is redelivered

    [keystore]
    path = "keys/acme.json"                     # relative paths are relative to this file
    password_env = "ACME_KEYSTORE_PASSWORD"     # the password itself never goes in the file

    [contracts]
    AgreementEscrow = "0x..."

    [assets."0x1234..."]                        # asset id -> where its private data lives
    data = "/srv/private/shipments.csv"

``[options]`` is a free table for the app module. The worker processes find the file through
``$INSITU_WORKER_CONFIG`` (see ``current_worker_config``).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from insitu.config import Settings, load_settings
from insitu.worker.celery_app import DEFAULT_VISIBILITY_TIMEOUT, queue_name
from insitu.worker.errors import WorkerConfigError

CONFIG_ENV = "INSITU_WORKER_CONFIG"
POOLS = ("prefork", "solo", "threads")
_ORG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOP_KEYS = {
    "organisation", "app", "queue", "rpc_url", "redis_url", "ipfs_url", "confirmations",
    "poll_interval", "start_block", "max_block_range", "concurrency", "pool",
    "visibility_timeout", "keystore", "contracts", "assets", "pythonpath", "options", "listen",
}  # fmt: skip


@dataclass(frozen=True)
class AssetConfig:
    """One asset this provider serves and where its private data lives (file or directory)."""

    asset_id: str
    data: Path
    #: Any other keys of the asset's table (e.g. allowed algorithms), for the app module.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KeystoreConfig:
    """The provider's signing key: an encrypted JSON keystore and the env var of its password."""

    path: Path
    password_env: str

    def password(self) -> str:
        value = os.environ.get(self.password_env)
        if value is None:
            raise WorkerConfigError(
                f"the keystore {self.path} needs its password in the environment variable "
                f"{self.password_env}; export it before starting the worker."
            )
        return value


@dataclass(frozen=True)
class WorkerConfig:
    """A loaded, validated worker config (all URLs resolved, all paths absolute)."""

    organisation: str
    app: str
    queue: str
    rpc_url: str
    redis_url: str
    ipfs_url: str | None
    ipfs_store_dir: Path
    state_dir: Path
    confirmations: int = 0
    poll_interval: float = 0.25
    start_block: int = 0
    max_block_range: int = 2000
    concurrency: int = 2
    pool: str = "prefork"
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT
    #: False for a worker that only serves tasks sent to its queue (e.g. the inference dealer):
    #: no listener process is started and the app module needs no ``listener_spec``.
    listen: bool = True
    keystore: KeystoreConfig | None = None
    contracts: dict[str, str] = field(default_factory=dict)
    assets: dict[str, AssetConfig] = field(default_factory=dict)
    pythonpath: list[Path] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def listener_name(self) -> str:
        return self.organisation

    def asset(self, asset_id: str) -> AssetConfig:
        """The served asset ``asset_id``; raises with the served list if it is not one."""
        found = self.assets.get(asset_id) or self.assets.get(asset_id.lower())
        if found is None:
            raise WorkerConfigError(
                f"asset {asset_id} is not served by {self.organisation} (served: "
                f'{sorted(self.assets)}); add an [assets."{asset_id}"] table to {self.path}.'
            )
        return found


def _typed(path: Path, data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data[key]
    # bool is an int in Python; a `true` where a number belongs is still a mistake.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise WorkerConfigError(f"{path}: {key} must be a number, not {value!r}.")
    if not isinstance(value, kind):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise WorkerConfigError(f"{path}: {key} must be a {expected}, got {value!r}.")
    return value


def _resolve(base: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (base / candidate).resolve()


def _default_urls(settings: Settings) -> tuple[str, str]:
    local = settings.local
    rpc = settings.rpc_url or f"http://{local.host}:{local.anvil_port}"
    redis_url = settings.redis_url or f"redis://{local.host}:{local.redis_port}/0"
    return rpc, redis_url


def load_worker_config(path: Path, settings: Settings | None = None) -> WorkerConfig:
    """Read and validate a worker config; errors name the file, the key and the fix."""
    path = Path(path).expanduser().resolve()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise WorkerConfigError(
            f"worker config {path} not found; copy workers/provider.example.toml and edit it."
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise WorkerConfigError(f"{path} is not valid TOML ({exc}).") from exc
    return parse_worker_config(data, path, settings)


def parse_worker_config(
    data: dict[str, Any], path: Path, settings: Settings | None = None
) -> WorkerConfig:
    """Validate the parsed TOML of ``path`` (used by ``load_worker_config`` and tests)."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise WorkerConfigError(
            f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}."
        )
    for required in ("organisation", "app"):
        if required not in data:
            raise WorkerConfigError(f"{path}: missing required key {required!r}.")
    organisation = _typed(path, data, "organisation", str)
    if not _ORG_RE.match(organisation):
        raise WorkerConfigError(
            f"{path}: organisation {organisation!r} must be 1-64 letters, digits, '.', '_' or '-' "
            "(it names the Celery queue and the worker's files)."
        )
    base = path.parent
    settings = settings or load_settings()
    default_rpc, default_redis = _default_urls(settings)
    values: dict[str, Any] = {}
    for key in ("rpc_url", "redis_url", "ipfs_url", "queue"):
        if key in data:
            values[key] = _typed(path, data, key, str)
    for key in ("confirmations", "start_block", "max_block_range", "concurrency"):
        if key in data:
            values[key] = _typed(path, data, key, int)
            if values[key] < (1 if key in ("max_block_range", "concurrency") else 0):
                raise WorkerConfigError(f"{path}: {key} = {values[key]} is out of range.")
    for key in ("poll_interval", "visibility_timeout"):
        if key in data:
            values[key] = float(_typed(path, data, key, (int, float)))
            if values[key] <= 0:
                raise WorkerConfigError(f"{path}: {key} must be positive.")
    if "listen" in data:
        values["listen"] = _typed(path, data, "listen", bool)
    if "pool" in data:
        values["pool"] = _typed(path, data, "pool", str)
        if values["pool"] not in POOLS:
            raise WorkerConfigError(f"{path}: pool must be one of {POOLS}, got {values['pool']!r}.")

    return WorkerConfig(
        organisation=organisation,
        app=_typed(path, data, "app", str),
        queue=values.pop("queue", queue_name(organisation)),
        rpc_url=values.pop("rpc_url", default_rpc),
        redis_url=values.pop("redis_url", default_redis),
        ipfs_url=values.pop("ipfs_url", settings.ipfs_url),
        ipfs_store_dir=settings.ipfs_store_dir,
        state_dir=settings.home / "workers" / organisation,
        keystore=_keystore(path, data),
        contracts=_contracts(path, data),
        assets=_assets(path, data),
        pythonpath=[_resolve(base, p) for p in _string_list(path, data, "pythonpath")],
        options=dict(_table(path, data, "options")),
        path=path,
        **values,
    )


def _table(path: Path, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise WorkerConfigError(f"{path}: [{key}] must be a table.")
    return value


def _string_list(path: Path, data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise WorkerConfigError(f"{path}: {key} must be a list of strings.")
    return value


def _keystore(path: Path, data: dict[str, Any]) -> KeystoreConfig | None:
    if "keystore" not in data:
        return None
    table = _table(path, data, "keystore")
    if set(table) != {"path", "password_env"}:
        raise WorkerConfigError(
            f"{path}: [keystore] needs exactly `path` and `password_env`, got {sorted(table)}."
        )
    key_path = _resolve(path.parent, str(table["path"]))
    if not key_path.is_file():
        raise WorkerConfigError(
            f"{path}: keystore file {key_path} does not exist; create it (e.g. `insitu account "
            "new`) or fix [keystore] path."
        )
    return KeystoreConfig(path=key_path, password_env=str(table["password_env"]))


def _contracts(path: Path, data: dict[str, Any]) -> dict[str, str]:
    table = _table(path, data, "contracts")
    for name, address in table.items():
        if not (isinstance(address, str) and re.fullmatch(r"0x[0-9a-fA-F]{40}", address)):
            raise WorkerConfigError(
                f"{path}: [contracts] {name} = {address!r} is not a 0x-prefixed 20-byte address."
            )
    return dict(table)


def _assets(path: Path, data: dict[str, Any]) -> dict[str, AssetConfig]:
    assets: dict[str, AssetConfig] = {}
    for asset_id, table in _table(path, data, "assets").items():
        if not isinstance(table, dict) or not isinstance(table.get("data"), str):
            raise WorkerConfigError(
                f'{path}: asset {asset_id} needs a table with `data = "<path to its private '
                'data file or directory>"`.'
            )
        data_path = _resolve(path.parent, table["data"])
        if not data_path.exists():
            raise WorkerConfigError(
                f"{path}: the private data of asset {asset_id} is missing: {data_path} does not "
                "exist. Restore the file or fix its `data` path."
            )
        options = {k: v for k, v in table.items() if k != "data"}
        assets[asset_id] = AssetConfig(asset_id=asset_id, data=data_path, options=options)
    return assets


@cache
def current_worker_config() -> WorkerConfig:
    """The config of this worker process, from ``$INSITU_WORKER_CONFIG`` (set by the launcher)."""
    value = os.environ.get(CONFIG_ENV)
    if not value:
        raise WorkerConfigError(
            f"{CONFIG_ENV} is not set: start worker processes with `insitu worker start --config "
            "<file>` (or set it to the worker config file)."
        )
    return load_worker_config(Path(value))
