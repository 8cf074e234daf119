"""Write generator-session worker configs; run them with ``insitu.fl.launch.Federation``.

A provider's config names its own asset(s) with the private data file and its local mapping
file, nothing else, so its tasks can read no other provider's rows; the coordinator's names its
validation set. Each worker is a real Celery worker (solo pool) plus a listener process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from insitu.fl.launch import WorkerSpec, write_worker_config

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
    return write_worker_config(
        directory,
        WorkerSpec(
            organisation=spec.organisation,
            role=spec.role,
            account=spec.account,
            assets={asset: data for asset, (data, _) in spec.assets.items()},
            options=spec.options,
        ),
        rpc_url=rpc_url,
        redis_url=redis_url,
        ipfs_url=ipfs_url,
        session_contract=session_contract,
        start_block=start_block,
        visibility_timeout=visibility_timeout,
        app=APP,
        env_prefix="INSITU_SYNTH",
        asset_keys={asset: {"mapping": str(m)} for asset, (_, m) in spec.assets.items()},
    )
