"""Deploy the insitu contracts and save/load where they live, so no code hard-codes addresses."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.errors import ConfigError
from insitu.toolchain.artifacts import load_artifact

DEFAULT_FEE_BPS = 250
TOKEN_NAME = "insitu Payment Token"
TOKEN_SYMBOL = "INSITU"


@dataclass(frozen=True)
class Deployment:
    """Addresses of one deployment of the insitu contracts on one chain."""

    chain_id: int
    registry: str
    escrow: str
    token: str
    deployer: str
    block_number: int
    gas_used: dict[str, int]
    #: ``FederatedSession`` (empty in deployments made before it existed).
    session: str = ""


def deploy_contract(
    w3: Web3, deployer: LocalAccount, name: str, *args: Any
) -> tuple[str, int, int]:
    """Deploy artifact ``name`` with constructor ``args``; return (address, gas used, block)."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor(*args).build_transaction(
        {
            "from": deployer.address,
            "nonce": w3.eth.get_transaction_count(deployer.address, "pending"),
        }
    )
    tx_hash = w3.eth.send_raw_transaction(deployer.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise ConfigError(f"deploying {name} failed in tx {tx_hash.to_0x_hex()}: check its args.")
    return str(receipt["contractAddress"]), int(receipt["gasUsed"]), int(receipt["blockNumber"])


def deploy_all(
    w3: Web3,
    deployer: LocalAccount,
    fee_bps: int = DEFAULT_FEE_BPS,
    fee_recipient: str | None = None,
) -> Deployment:
    """Deploy registry, escrow and session contracts (owned by ``deployer``) and a payment
    token (minted by it)."""
    recipient = Web3.to_checksum_address(fee_recipient or deployer.address)
    registry, g_registry, block = deploy_contract(w3, deployer, "AssetRegistry")
    escrow, g_escrow, _ = deploy_contract(
        w3, deployer, "AgreementEscrow", registry, deployer.address, fee_bps, recipient
    )
    token, g_token, _ = deploy_contract(
        w3, deployer, "PaymentToken", TOKEN_NAME, TOKEN_SYMBOL, deployer.address
    )
    # The deployer is the session contract's arbiter of off-chain disputes.
    session, g_session, _ = deploy_contract(
        w3, deployer, "FederatedSession", registry, deployer.address
    )
    return Deployment(
        chain_id=w3.eth.chain_id,
        registry=registry,
        escrow=escrow,
        token=token,
        deployer=deployer.address,
        block_number=block,
        gas_used={
            "AssetRegistry": g_registry,
            "AgreementEscrow": g_escrow,
            "PaymentToken": g_token,
            "FederatedSession": g_session,
        },
        session=session,
    )


def save_deployment(deployment: Deployment, path: str | Path) -> Path:
    """Write the deployment as JSON (addresses + chain id)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(deployment), indent=2) + "\n")
    return path


def load_deployment(path: str | Path, w3: Web3 | None = None) -> Deployment:
    """Read a deployment JSON; with ``w3``, check it belongs to the connected chain."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        deployment = Deployment(**data)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no deployment file at {path}: deploy first (scripts/deploy.py)."
        ) from exc
    except (json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"{path} is not a deployment file ({exc}); deploy again.") from exc
    if w3 is not None and w3.eth.chain_id != deployment.chain_id:
        raise ConfigError(
            f"{path} is for chain {deployment.chain_id} but the node is chain "
            f"{w3.eth.chain_id}: connect to the right node or deploy again."
        )
    return deployment
