"""The chain SDK: typed web3.py wrappers over insitu's contracts.

    w3 = connect(url)
    deployment = deploy_all(w3, deployer)            # or load_deployment(path, w3)
    registry = AssetRegistry(w3, deployment.registry)
    escrow = AgreementEscrow(w3, deployment.escrow)

Reverts raise ``ContractRevert`` naming the contract's custom error and what to do about it.
"""

from insitu.chain.connection import (
    ChainUnavailable,
    account_from_env,
    connect,
    dev_accounts,
    load_keystore,
    save_keystore,
)
from insitu.chain.deploy import Deployment, deploy_all, load_deployment, save_deployment
from insitu.chain.eip712 import NO_PERMIT, AgreementRequest, PermitSignature
from insitu.chain.errors import ContractRevert, decode_revert
from insitu.chain.escrow import AgreementEscrow
from insitu.chain.ids import agreement_id, asset_id, terms_hash
from insitu.chain.registry import AssetRegistry
from insitu.chain.session import FederatedSession, SessionStatus, session_id
from insitu.chain.token import PaymentToken
from insitu.chain.types import (
    NATIVE_TOKEN,
    AccessMode,
    Agreement,
    AgreementCreated,
    AgreementStatus,
    Asset,
    AssetKind,
    Creation,
    Registration,
    Terms,
    TxReceipt,
)

__all__ = [
    "NATIVE_TOKEN",
    "NO_PERMIT",
    "AccessMode",
    "Agreement",
    "AgreementCreated",
    "AgreementEscrow",
    "AgreementRequest",
    "AgreementStatus",
    "Asset",
    "AssetKind",
    "AssetRegistry",
    "ChainUnavailable",
    "ContractRevert",
    "Creation",
    "Deployment",
    "FederatedSession",
    "PaymentToken",
    "PermitSignature",
    "Registration",
    "SessionStatus",
    "Terms",
    "TxReceipt",
    "account_from_env",
    "agreement_id",
    "asset_id",
    "connect",
    "decode_revert",
    "deploy_all",
    "dev_accounts",
    "load_deployment",
    "load_keystore",
    "save_deployment",
    "save_keystore",
    "session_id",
    "terms_hash",
]
