"""``Marketplace``: the user-level operations, each a few calls into the chain SDK and IPFS.

Example (a local chain with the stack up)::

    market = Marketplace.connect()
    bank, buyer = dev_accounts(2)
    pub = market.publish(bank, {"name": "Bank A", "kind": "dataset", "description": "..."},
                         price=10**18, mode=AccessMode.COMPUTE_ONLY, algorithms=[algo_hash])
    purchase = market.sign_purchase(buyer, pub.asset_id, algorithm_hash=algo_hash)
    created = market.submit(relayer, purchase)        # anyone may submit; the buyer pays no gas
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from insitu.chain import (
    NATIVE_TOKEN,
    AccessMode,
    AgreementEscrow,
    AgreementRequest,
    AssetKind,
    AssetRegistry,
    Creation,
    Deployment,
    FederatedSession,
    PaymentToken,
    PermitSignature,
    TxReceipt,
    connect,
)
from insitu.chain.types import Asset
from insitu.config import Settings, load_settings
from insitu.errors import ConfigError, InsituError
from insitu.market.deployments import find_deployment
from insitu.market.metadata import AssetMetadata, MetadataError, load_metadata, parse_metadata
from insitu.storage import ContentStore, open_store

ZERO32 = b"\0" * 32
_KINDS = {"dataset": AssetKind.DATASET, "algorithm": AssetKind.ALGORITHM, "model": AssetKind.MODEL}


class UnknownAsset(InsituError):
    """No asset with this id is registered."""


@dataclass(frozen=True)
class Publication:
    """A published asset: its id, its metadata on IPFS and the transactions that made it."""

    asset_id: bytes
    metadata_cid: str
    metadata_hash: bytes
    receipts: dict[str, TxReceipt]


@dataclass(frozen=True)
class SignedPurchase:
    """A consumer's signed purchase: anyone can submit it; the consumer needs no gas."""

    request: AgreementRequest
    signature: bytes
    permit: PermitSignature
    params_cid: str


def local_rpc_url(settings: Settings) -> str:
    return settings.rpc_url or f"http://{settings.local.host}:{settings.local.anvil_port}"


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class Marketplace:
    """Registry, escrow, payment token and IPFS store of one deployment."""

    def __init__(self, w3: Web3, deployment: Deployment, store: ContentStore) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.store = store
        self.registry = AssetRegistry(w3, deployment.registry)
        self.escrow = AgreementEscrow(w3, deployment.escrow)
        self.token = PaymentToken(w3, deployment.token)
        self._sessions: FederatedSession | None = None

    @property
    def sessions(self) -> FederatedSession:
        """The deployment's ``FederatedSession`` contract."""
        if not self.deployment.session:
            raise ConfigError(
                f"the deployment of chain {self.deployment.chain_id} predates the session "
                "contract: run `insitu deploy` again."
            )
        if self._sessions is None:
            self._sessions = FederatedSession(self.w3, self.deployment.session)
        return self._sessions

    @classmethod
    def connect(cls, settings: Settings | None = None) -> Marketplace:
        """Connect with the configured (or local stack's) node, deployment and IPFS store."""
        settings = settings or load_settings()
        return cls.attach(connect(local_rpc_url(settings)), settings)

    @classmethod
    def attach(cls, w3: Web3, settings: Settings | None = None) -> Marketplace:
        """Use an existing web3 connection (e.g. brownie's) with the saved deployment."""
        settings = settings or load_settings()
        store = open_store(settings.ipfs_url, settings.ipfs_store_dir)
        return cls(w3, find_deployment(w3, settings), store)

    # ----------------------------------------------------------------- publishing

    def publish(
        self,
        owner: LocalAccount,
        metadata: AssetMetadata | dict[str, Any],
        *,
        price: int,
        mode: AccessMode,
        token: str | None = None,
        provider: str | None = None,
        algorithms: list[bytes] | tuple[bytes, ...] = (),
        allow_any_algorithm: bool = False,
        salt: bytes | None = None,
    ) -> Publication:
        """Put the metadata on IPFS and register the asset (and its algorithm allowlist).

        ``token`` defaults to the deployment's payment token; pass ``NATIVE_TOKEN`` for ETH.
        ``provider`` (who may fulfil) defaults to the owner.
        """
        meta = metadata if isinstance(metadata, AssetMetadata) else parse_metadata(metadata)
        cid, digest = meta.publish(self.store)
        registration = self.registry.register(
            owner,
            salt=salt or os.urandom(32),
            kind=_KINDS[meta.kind],
            mode=mode,
            metadata_cid=cid,
            metadata_hash=digest,
            provider=provider or owner.address,
            price=price,
            token=self.deployment.token if token is None else token,
        )
        receipts = {"register": registration.receipt}
        if algorithms:
            receipts["allow_algorithms"] = self.registry.allow_algorithms(
                owner, registration.asset_id, list(algorithms)
            )
        if allow_any_algorithm:
            receipts["allow_any"] = self.registry.set_allow_any(owner, registration.asset_id, True)
        return Publication(registration.asset_id, cid, digest, receipts)

    def asset(self, asset_id: bytes) -> Asset:
        """The on-chain record, or ``UnknownAsset`` with what to check."""
        asset = self.registry.get(asset_id)
        if not asset.exists:
            raise UnknownAsset(
                f"no asset 0x{bytes(asset_id).hex()} on chain {self.deployment.chain_id}: check "
                "the id (`insitu assets` lists them) and that you are on the right network."
            )
        return asset

    def metadata(self, asset_id: bytes) -> AssetMetadata:
        """The asset's current metadata document, fetched from IPFS and checked on-chain."""
        self.asset(asset_id)
        contract = self.registry.contract
        start = self.deployment.block_number
        filt = {"assetId": bytes(asset_id)}
        updates = contract.events.MetadataUpdated().get_logs(
            from_block=start, argument_filters=filt
        )
        if updates:
            args = updates[-1]["args"]
        else:
            logs = contract.events.AssetRegistered().get_logs(
                from_block=start, argument_filters=filt
            )
            if not logs:
                raise MetadataError(f"no registration event for asset 0x{bytes(asset_id).hex()}.")
            args = logs[-1]["args"]
        return load_metadata(self.store, args["metadataCid"], bytes(args["metadataHash"]))

    # ----------------------------------------------------------------- buying

    def store_params(self, params: dict[str, Any] | None) -> tuple[str, bytes]:
        """Put job parameters on IPFS; return (CID, keccak hash); empty for no parameters."""
        if not params:
            return "", ZERO32
        data = canonical_json(params)
        return self.store.add(data), keccak(data)

    def sign_purchase(
        self,
        consumer: LocalAccount,
        asset_id: bytes,
        *,
        algorithm_hash: bytes = ZERO32,
        params: dict[str, Any] | None = None,
        duration: int = 3600,
        signature_ttl: int = 900,
        salt: bytes | None = None,
        max_price: int | None = None,
    ) -> SignedPurchase:
        """Sign an EIP-712 purchase request and an ERC-2612 permit for its price (offline)."""
        asset = self.asset(asset_id)
        if asset.token == NATIVE_TOKEN:
            raise InsituError(
                "signed purchases need an ERC-20 priced asset (a relayer cannot send your ETH); "
                "use Marketplace.buy for ETH-priced assets."
            )
        now = self.w3.eth.get_block("latest")["timestamp"]
        params_cid, params_hash = self.store_params(params)
        request = self.escrow.build_request(
            consumer.address,
            asset_id,
            salt or os.urandom(32),
            max_price=asset.price if max_price is None else max_price,
            deadline=now + duration,
            expiry=now + signature_ttl,
            algorithm_hash=algorithm_hash,
            params_hash=params_hash,
        )
        signature = self.escrow.sign_request(consumer, request)
        token = PaymentToken(self.w3, asset.token)
        permit = token.sign_permit(consumer, self.escrow.address, asset.price, request.expiry)
        return SignedPurchase(request, signature, permit, params_cid)

    def submit(self, relayer: LocalAccount, purchase: SignedPurchase) -> Creation:
        """Submit a signed purchase (the relayer pays the gas, the consumer the price)."""
        return self.escrow.create_signed(
            relayer, purchase.request, purchase.signature, purchase.permit, purchase.params_cid
        )

    def buy(
        self,
        consumer: LocalAccount,
        asset_id: bytes,
        *,
        algorithm_hash: bytes = ZERO32,
        params: dict[str, Any] | None = None,
        duration: int = 3600,
        salt: bytes | None = None,
    ) -> tuple[Creation, list[TxReceipt]]:
        """Buy directly: approve (ERC-20) then create; returns the creation and all receipts."""
        asset = self.asset(asset_id)
        receipts: list[TxReceipt] = []
        if asset.token != NATIVE_TOKEN:
            token = PaymentToken(self.w3, asset.token)
            if token.balance_of(consumer.address) < asset.price:
                raise InsituError(
                    f"{consumer.address} holds {token.balance_of(consumer.address)} of the "
                    f"payment token but the asset costs {asset.price}: top up the account first."
                )
            receipts.append(token.approve(consumer, self.escrow.address, asset.price))
        params_cid, params_hash = self.store_params(params)
        now = self.w3.eth.get_block("latest")["timestamp"]
        creation = self.escrow.create(
            consumer,
            asset_id,
            salt or os.urandom(32),
            max_price=asset.price,
            deadline=now + duration,
            algorithm_hash=algorithm_hash,
            params_hash=params_hash,
            params_cid=params_cid,
        )
        return creation, [*receipts, creation.receipt]

    # ----------------------------------------------------------------- delivering

    def deliver(
        self, provider: LocalAccount, agreement_id: bytes, result: bytes
    ) -> tuple[str, bytes, TxReceipt]:
        """Put ``result`` (already encrypted to the buyer) on IPFS and fulfil the agreement.

        The on-chain result hash is keccak256 of the bytes stored, so the buyer can check what
        it fetched. Returns (CID, hash, receipt).
        """
        cid = self.store.add(result)
        digest = keccak(result)
        receipt = self.escrow.fulfil(provider, agreement_id, digest, cid)
        return cid, digest, receipt

    def wait_until_settled(self, agreement_id: bytes, timeout: float = 120.0) -> Any:
        """Poll until the agreement leaves LOCKED; return its final ``Agreement``."""
        deadline = time.monotonic() + timeout
        while True:
            agreement = self.escrow.get(agreement_id)
            if agreement.status.name != "LOCKED":
                return agreement
            if time.monotonic() > deadline:
                raise InsituError(
                    f"agreement 0x{bytes(agreement_id).hex()} still locked after {timeout:.0f} s: "
                    "is the provider's worker running (`insitu worker status`)?"
                )
            time.sleep(0.2)
