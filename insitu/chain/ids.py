"""Deterministic ids, computed exactly as the contracts compute them."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from insitu.chain.types import Terms


def asset_id(owner: str, salt: bytes) -> bytes:
    """``keccak256(abi.encode(owner, salt))``: ``AssetRegistry.assetIdOf``."""
    return keccak(encode(["address", "bytes32"], [to_checksum_address(owner), bytes32(salt)]))


def agreement_id(consumer: str, salt: bytes) -> bytes:
    """``keccak256(abi.encode(consumer, salt))``: ``AgreementEscrow.agreementIdOf``."""
    return keccak(encode(["address", "bytes32"], [to_checksum_address(consumer), bytes32(salt)]))


def terms_hash(terms: Terms) -> bytes:
    """``AgreementEscrow.hashTerms``: the commitment stored while an agreement is locked."""
    return keccak(
        encode(
            ["bytes32", "address", "address", "address", "address", "uint256", "uint256"],
            list(terms.as_tuple()),
        )
    )


def commitment(full_hash: bytes) -> bytes:
    """The 26-byte prefix the escrow stores for a terms or result hash (``bytes26(hash)``)."""
    return bytes32(full_hash)[:26]


def bytes32(value: bytes | str) -> bytes:
    """A 32-byte value from bytes or a 0x-hex string; raises ``ValueError`` on another length."""
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}: pass a 32-byte hash or salt.")
    return raw
