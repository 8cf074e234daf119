"""Typed values the chain SDK returns: assets, agreements, terms and receipts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
#: The payment "token" of assets priced in native ETH.
NATIVE_TOKEN = ZERO_ADDRESS


class AssetKind(IntEnum):
    """What an asset is (``AssetRegistry.Kind``)."""

    DATASET = 0
    ALGORITHM = 1
    MODEL = 2


class AccessMode(IntEnum):
    """How a buyer may use an asset (``AssetRegistry.AccessMode``)."""

    DOWNLOAD = 0
    COMPUTE_ONLY = 1
    INFERENCE = 2


class AgreementStatus(IntEnum):
    """The escrow state machine (``AgreementEscrow.Status``)."""

    NONE = 0
    LOCKED = 1
    FULFILLED = 2
    REJECTED = 3
    REFUNDED = 4


@dataclass(frozen=True)
class TxReceipt:
    """A mined, successful transaction."""

    tx_hash: str
    gas_used: int
    block_number: int
    # web3's receipt, for log decoding by callers that need more than the SDK returns.
    raw: Any = None


@dataclass(frozen=True)
class Asset:
    """The on-chain record of an asset (descriptive metadata lives on IPFS)."""

    asset_id: bytes
    owner: str
    kind: AssetKind
    mode: AccessMode
    retired: bool
    allow_any_algorithm: bool
    version: int
    provider: str
    price: int
    token: str

    @property
    def exists(self) -> bool:
        """False for an id nobody registered (the registry returns an all-zero record)."""
        return self.owner != ZERO_ADDRESS


@dataclass(frozen=True)
class Terms:
    """The payout terms fixed when an agreement is created (committed on-chain by hash)."""

    asset_id: bytes
    consumer: str
    payee: str
    provider: str
    token: str
    amount: int
    fee: int

    def as_tuple(self) -> tuple[bytes, str, str, str, str, int, int]:
        """The ABI tuple the escrow's fulfil / reject / refundExpired take."""
        return (
            self.asset_id,
            self.consumer,
            self.payee,
            self.provider,
            self.token,
            self.amount,
            self.fee,
        )


@dataclass(frozen=True)
class Agreement:
    """The stored state of an agreement."""

    agreement_id: bytes
    status: AgreementStatus
    deadline: int
    # First 26 bytes of the terms hash while locked, of the result hash once fulfilled (the
    # on-chain proof of delivery); compare with ``ids.commitment``.
    commitment: bytes

    def proves_result(self, result_hash: bytes) -> bool:
        """Whether this fulfilled agreement's on-chain commitment matches ``result_hash``."""
        return self.status == AgreementStatus.FULFILLED and self.commitment == result_hash[:26]


@dataclass(frozen=True)
class AgreementCreated:
    """An ``AgreementCreated`` event: everything needed to settle the agreement."""

    agreement_id: bytes
    terms: Terms
    deadline: int
    algorithm_hash: bytes
    params_hash: bytes
    params_cid: str
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class Registration:
    """The result of registering an asset."""

    asset_id: bytes
    receipt: TxReceipt


@dataclass(frozen=True)
class Creation:
    """The result of creating an agreement."""

    agreement_id: bytes
    terms: Terms
    receipt: TxReceipt
