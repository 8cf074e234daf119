"""EIP-712 typed data the consumer signs: agreement requests and ERC-2612 permits.

The domain carries the chain id and the verifying contract, so a signature is valid on exactly
one chain and one contract; the nonce and expiry make it single-use and short-lived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.chain.ids import bytes32

#: Must match ``AgreementEscrow``'s ``EIP712("insitu AgreementEscrow", "1")``.
ESCROW_DOMAIN_NAME = "insitu AgreementEscrow"
ESCROW_DOMAIN_VERSION = "1"

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

AGREEMENT_REQUEST_FIELDS = [
    {"name": "consumer", "type": "address"},
    {"name": "assetId", "type": "bytes32"},
    {"name": "salt", "type": "bytes32"},
    {"name": "algorithmHash", "type": "bytes32"},
    {"name": "paramsHash", "type": "bytes32"},
    {"name": "maxPrice", "type": "uint256"},
    {"name": "deadline", "type": "uint64"},
    {"name": "expiry", "type": "uint64"},
    {"name": "nonce", "type": "uint256"},
]

PERMIT_FIELDS = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


@dataclass(frozen=True)
class AgreementRequest:
    """What a consumer signs so that anyone can create the agreement on its behalf."""

    consumer: str
    asset_id: bytes
    salt: bytes
    algorithm_hash: bytes
    params_hash: bytes
    max_price: int
    deadline: int  # the agreement's deadline (unix time)
    expiry: int  # the signature's own expiry (unix time)
    nonce: int

    def message(self) -> dict[str, Any]:
        """The EIP-712 message."""
        return {
            "consumer": Web3.to_checksum_address(self.consumer),
            "assetId": bytes32(self.asset_id),
            "salt": bytes32(self.salt),
            "algorithmHash": bytes32(self.algorithm_hash),
            "paramsHash": bytes32(self.params_hash),
            "maxPrice": self.max_price,
            "deadline": self.deadline,
            "expiry": self.expiry,
            "nonce": self.nonce,
        }

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple ``createSigned`` takes."""
        return tuple(self.message().values())


@dataclass(frozen=True)
class PermitSignature:
    """An ERC-2612 permit, as the escrow's ``Permit`` struct wants it."""

    value: int
    deadline: int
    v: int
    r: bytes
    s: bytes

    def as_tuple(self) -> tuple[int, int, int, bytes, bytes]:
        """The ABI tuple of the escrow's ``Permit`` struct."""
        return (self.value, self.deadline, self.v, self.r, self.s)


#: "No permit: the consumer already approved the escrow."
NO_PERMIT = PermitSignature(0, 0, 0, b"\0" * 32, b"\0" * 32)


def agreement_request_typed_data(
    request: AgreementRequest, escrow: str, chain_id: int
) -> dict[str, Any]:
    """The full EIP-712 document for ``request`` (for wallets that sign typed data)."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "AgreementRequest": AGREEMENT_REQUEST_FIELDS},
        "primaryType": "AgreementRequest",
        "domain": {
            "name": ESCROW_DOMAIN_NAME,
            "version": ESCROW_DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": Web3.to_checksum_address(escrow),
        },
        "message": request.message(),
    }


def sign_agreement_request(
    signer: LocalAccount, request: AgreementRequest, escrow: str, chain_id: int
) -> bytes:
    """The consumer's 65-byte signature over ``request`` for ``escrow`` on ``chain_id``."""
    typed = agreement_request_typed_data(request, escrow, chain_id)
    return bytes(signer.sign_message(encode_typed_data(full_message=typed)).signature)


def sign_permit(
    owner: LocalAccount,
    *,
    token: str,
    token_name: str,
    chain_id: int,
    spender: str,
    value: int,
    nonce: int,
    deadline: int,
    version: str = "1",
) -> PermitSignature:
    """Sign an ERC-2612 permit (OpenZeppelin ``ERC20Permit`` domain: token name, version "1")."""
    typed = {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Permit": PERMIT_FIELDS},
        "primaryType": "Permit",
        "domain": {
            "name": token_name,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": Web3.to_checksum_address(token),
        },
        "message": {
            "owner": owner.address,
            "spender": Web3.to_checksum_address(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }
    signed = owner.sign_message(encode_typed_data(full_message=typed))
    return PermitSignature(
        value=value,
        deadline=deadline,
        v=signed.v,
        r=signed.r.to_bytes(32, "big"),
        s=signed.s.to_bytes(32, "big"),
    )
