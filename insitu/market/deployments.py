"""Where a chain's insitu contracts live, so no code hard-codes an address.

A deployment is a JSON file ``<home>/deployments/<chain id>.json`` written by ``insitu deploy``
(or ``brownie run scripts/deploy.py``). On a local development chain, ``ensure_deployment``
deploys when the file is missing or its contracts are gone (a fresh anvil); on any other chain it
never deploys by itself.
"""

from __future__ import annotations

from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.chain import Deployment, deploy_all, load_deployment, save_deployment
from insitu.config import Settings
from insitu.errors import ConfigError

#: Chain ids of local development nodes (anvil / hardhat, ganache).
DEV_CHAIN_IDS = frozenset({31337, 1337})


def deployment_path(settings: Settings, chain_id: int) -> Path:
    return settings.home / "deployments" / f"{chain_id}.json"


def _is_live(w3: Web3, deployment: Deployment) -> bool:
    addresses = (deployment.registry, deployment.escrow, deployment.token, deployment.session)
    if not deployment.session:
        return False  # made before the session contract existed: deploy again
    return all(len(w3.eth.get_code(Web3.to_checksum_address(a))) > 0 for a in addresses)


def find_deployment(w3: Web3, settings: Settings) -> Deployment:
    """The deployment of the connected chain, checked to be live."""
    path = deployment_path(settings, w3.eth.chain_id)
    deployment = load_deployment(path, w3)
    if not _is_live(w3, deployment):
        raise ConfigError(
            f"{path} names contracts that are not on chain {deployment.chain_id} "
            "(was the node restarted without its state?): run `insitu deploy` again."
        )
    return deployment


def ensure_deployment(
    w3: Web3, settings: Settings, deployer: LocalAccount, *, fee_bps: int | None = None
) -> tuple[Deployment, bool]:
    """Return (deployment, deployed_now); deploys only on a local development chain."""
    path = deployment_path(settings, w3.eth.chain_id)
    if path.is_file():
        deployment = load_deployment(path, w3)
        if _is_live(w3, deployment):
            return deployment, False
    if w3.eth.chain_id not in DEV_CHAIN_IDS:
        raise ConfigError(
            f"no live insitu deployment for chain {w3.eth.chain_id} at {path}: deploy explicitly "
            "with `insitu deploy` (it costs gas on a real network)."
        )
    kwargs = {} if fee_bps is None else {"fee_bps": fee_bps}
    deployment = deploy_all(w3, deployer, **kwargs)
    save_deployment(deployment, path)
    return deployment, True
