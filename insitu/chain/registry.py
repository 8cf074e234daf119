"""Typed wrapper over ``AssetRegistry``."""

from __future__ import annotations

from collections.abc import Sequence

from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.chain.contracts import bind
from insitu.chain.ids import asset_id, bytes32
from insitu.chain.tx import read, transact
from insitu.chain.types import (
    NATIVE_TOKEN,
    AccessMode,
    Asset,
    AssetKind,
    Registration,
    TxReceipt,
)


class AssetRegistry:
    """Register and manage assets; every write is signed by the ``sender`` passed in."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.contract = bind(w3, "AssetRegistry", address)
        self.address = self.contract.address

    def register(
        self,
        sender: LocalAccount,
        *,
        salt: bytes,
        kind: AssetKind,
        mode: AccessMode,
        metadata_cid: str,
        metadata_hash: bytes,
        provider: str,
        price: int,
        token: str = NATIVE_TOKEN,
    ) -> Registration:
        """Register an asset owned by ``sender``; its id is ``asset_id(sender, salt)``."""
        call = self.contract.functions.register(
            bytes32(salt),
            int(kind),
            int(mode),
            metadata_cid,
            bytes32(metadata_hash),
            Web3.to_checksum_address(provider),
            Web3.to_checksum_address(token),
            price,
        )
        receipt = transact(self.w3, sender, call, action="register")
        return Registration(asset_id(sender.address, salt), receipt)

    def update_metadata(
        self, sender: LocalAccount, asset: bytes, metadata_cid: str, metadata_hash: bytes
    ) -> TxReceipt:
        """Publish a new metadata version (the version counter goes up by one)."""
        call = self.contract.functions.updateMetadata(
            bytes32(asset), metadata_cid, bytes32(metadata_hash)
        )
        return transact(self.w3, sender, call, action="updateMetadata")

    def set_price(
        self, sender: LocalAccount, asset: bytes, price: int, token: str = NATIVE_TOKEN
    ) -> TxReceipt:
        """Change price and token for agreements created from now on."""
        call = self.contract.functions.setPrice(
            bytes32(asset), Web3.to_checksum_address(token), price
        )
        return transact(self.w3, sender, call, action="setPrice")

    def set_provider(self, sender: LocalAccount, asset: bytes, provider: str) -> TxReceipt:
        """Change the provider allowed to fulfil new agreements."""
        call = self.contract.functions.setProvider(
            bytes32(asset), Web3.to_checksum_address(provider)
        )
        return transact(self.w3, sender, call, action="setProvider")

    def allow_algorithms(
        self,
        sender: LocalAccount,
        asset: bytes,
        algorithm_hashes: Sequence[bytes],
        allowed: bool = True,
    ) -> TxReceipt:
        """Add (or with ``allowed=False`` remove) algorithms to the asset's allowlist."""
        call = self.contract.functions.setAlgorithms(
            bytes32(asset), [bytes32(h) for h in algorithm_hashes], allowed
        )
        return transact(self.w3, sender, call, action="setAlgorithms")

    def allow_algorithm(
        self, sender: LocalAccount, asset: bytes, algorithm_hash: bytes, allowed: bool = True
    ) -> TxReceipt:
        """Add (or remove) one algorithm."""
        return self.allow_algorithms(sender, asset, [algorithm_hash], allowed)

    def set_allow_any(self, sender: LocalAccount, asset: bytes, allow_any: bool) -> TxReceipt:
        """Switch the explicit wildcard that allows every algorithm."""
        call = self.contract.functions.setAllowAnyAlgorithm(bytes32(asset), allow_any)
        return transact(self.w3, sender, call, action="setAllowAnyAlgorithm")

    def retire(self, sender: LocalAccount, asset: bytes) -> TxReceipt:
        """Retire the asset: no new agreements."""
        return transact(
            self.w3, sender, self.contract.functions.retire(bytes32(asset)), action="retire"
        )

    def transfer(self, sender: LocalAccount, asset: bytes, new_owner: str) -> TxReceipt:
        """Propose ``new_owner``; it becomes owner when it calls ``accept_ownership``."""
        call = self.contract.functions.transferOwnership(
            bytes32(asset), Web3.to_checksum_address(new_owner)
        )
        return transact(self.w3, sender, call, action="transferOwnership")

    def accept_ownership(self, sender: LocalAccount, asset: bytes) -> TxReceipt:
        """Accept the ownership proposed to ``sender``."""
        call = self.contract.functions.acceptOwnership(bytes32(asset))
        return transact(self.w3, sender, call, action="acceptOwnership")

    def get(self, asset: bytes) -> Asset:
        """The asset's on-chain record (``Asset.exists`` is False for an unknown id)."""
        owner, kind, mode, retired, allow_any, version, provider, price, token = read(
            self.contract.functions.getAsset(bytes32(asset)), "getAsset"
        )
        return Asset(
            asset_id=bytes32(asset),
            owner=owner,
            kind=AssetKind(kind),
            mode=AccessMode(mode),
            retired=retired,
            allow_any_algorithm=allow_any,
            version=version,
            provider=provider,
            price=price,
            token=token,
        )

    def pending_owner(self, asset: bytes) -> str:
        """The proposed next owner, or the zero address."""
        return str(read(self.contract.functions.pendingOwner(bytes32(asset))))

    def is_algorithm_allowed(self, asset: bytes, algorithm_hash: bytes) -> bool:
        """Whether the algorithm may run on the asset (allowlisted or wildcard)."""
        call = self.contract.functions.isAlgorithmAllowed(bytes32(asset), bytes32(algorithm_hash))
        return bool(read(call))
