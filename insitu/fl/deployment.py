"""Where the ``FederatedSession`` contract of a deployment lives (next to the core contracts).

``<home>/deployments/<chain id>.federated.json`` holds its address and the registry it serves;
on a local development chain it is deployed when missing or gone (a fresh anvil).
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.chain.session import deploy_session
from insitu.config import Settings
from insitu.errors import ConfigError
from insitu.market.deployments import DEV_CHAIN_IDS


def session_deployment_path(settings: Settings, chain_id: int) -> Path:
    return settings.home / "deployments" / f"{chain_id}.federated.json"


def ensure_session_contract(
    w3: Web3, settings: Settings, deployer: LocalAccount, registry: str
) -> tuple[str, bool]:
    """Return (address, deployed_now) of the session contract over `registry`."""
    path = session_deployment_path(settings, w3.eth.chain_id)
    if path.is_file():
        data = json.loads(path.read_text())
        address = Web3.to_checksum_address(data["address"])
        if data.get("registry", "").lower() == registry.lower() and w3.eth.get_code(address):
            return address, False
    if w3.eth.chain_id not in DEV_CHAIN_IDS:
        raise ConfigError(
            f"no FederatedSession deployment for chain {w3.eth.chain_id} at {path}: deploy it "
            "explicitly (insitu.chain.session.deploy_session) and record its address there."
        )
    address = deploy_session(w3, deployer, registry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"address": address, "registry": registry}))
    return address, True
