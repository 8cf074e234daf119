"""The documents of a private-inference sale: the asset's offer and the agreement's parameters.

Pricing (see docs/private-inference.md, "Paying per row"): the escrow locks the asset's
on-chain price, so an inference asset is registered at ``price_per_row × max_rows`` — one
agreement buys up to ``max_rows`` rows. The buyer states its row count N in the agreement's
parameters; the owner's worker fulfils with ``fulfilPartial(payout = delivered × price_per_row)``
and the escrow refunds the unused ``(max_rows − delivered) × price_per_row`` in the same
transaction. The offer (per-row price, row cap, architecture, the provider's public key) sits in
the asset's metadata under ``extra.inference``; the parameters (N, mode, the buyer's endpoint and
public key) are the agreement's params document, whose keccak256 is fixed on-chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import coincurve
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from insitu.inference.errors import OfferError
from insitu.mpc.errors import MPCError
from insitu.mpc.model import MODES, Architecture

OFFER_KEY = "inference"


def public_key(account: LocalAccount) -> bytes:
    """The account's compressed secp256k1 public key (33 bytes), for the channel's ECDH."""
    return bytes(coincurve.PrivateKey(bytes(account.key)).public_key.format(compressed=True))


def address_of(public: bytes) -> str:
    """The Ethereum address of a SEC1 public key: binds a channel key to an on-chain account."""
    try:
        point = coincurve.PublicKey(public).format(compressed=False)
    except ValueError as exc:
        raise OfferError(f"not a secp256k1 public key ({exc})") from exc
    return to_checksum_address(keccak(point[1:])[-20:])


@dataclass(frozen=True)
class InferenceOffer:
    """What a model owner sells: rows at ``price_per_row``, at most ``max_rows`` per agreement."""

    price_per_row: int
    max_rows: int
    architecture: Architecture
    provider_public_key: bytes

    @property
    def asset_price(self) -> int:
        """The on-chain price to register: one agreement escrows a full block of rows."""
        return self.price_per_row * self.max_rows

    def to_extra(self) -> dict[str, Any]:
        """The ``extra`` entry of the asset's metadata document."""
        return {
            OFFER_KEY: {
                "price_per_row": str(self.price_per_row),
                "max_rows": self.max_rows,
                "architecture": self.architecture.to_json(),
                "provider_public_key": "0x" + self.provider_public_key.hex(),
            }
        }

    @classmethod
    def from_extra(cls, extra: dict[str, Any] | None) -> InferenceOffer:
        """Parse the metadata's ``extra``; ``OfferError`` if it is not an inference offer."""
        data = (extra or {}).get(OFFER_KEY)
        if not isinstance(data, dict):
            raise OfferError(
                "the asset's metadata has no extra.inference offer: it is not sold for private "
                "inference; publish it with insitu.inference.publish_model."
            )
        try:
            return cls(
                price_per_row=int(data["price_per_row"]),
                max_rows=int(data["max_rows"]),
                architecture=Architecture.from_json(str(data["architecture"])),
                provider_public_key=bytes.fromhex(
                    str(data["provider_public_key"]).removeprefix("0x")
                ),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise OfferError(f"malformed inference offer in the asset metadata: {exc}") from exc


@dataclass(frozen=True)
class InferenceParams:
    """The buyer's request, stored on IPFS as the agreement's params document."""

    rows: int
    mode: str
    host: str
    port: int
    buyer_public_key: bytes

    def to_json(self) -> dict[str, Any]:
        """The params document (``Marketplace.store_params`` canonicalises and hashes it)."""
        return {
            "service": "private-inference/1",
            "rows": self.rows,
            "mode": self.mode,
            "endpoint": f"{self.host}:{self.port}",
            "buyer_public_key": "0x" + self.buyer_public_key.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InferenceParams:
        """Parse and validate a params document."""
        try:
            if data.get("service") != "private-inference/1":
                raise ValueError("service is not private-inference/1")
            host, _, port = str(data["endpoint"]).rpartition(":")
            params = cls(
                rows=int(data["rows"]),
                mode=str(data["mode"]),
                host=host,
                port=int(port),
                buyer_public_key=bytes.fromhex(str(data["buyer_public_key"]).removeprefix("0x")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise OfferError(f"malformed private-inference parameters: {exc}") from exc
        if params.mode not in MODES:
            raise OfferError(f"mode {params.mode!r} is not one of {MODES}")
        if params.rows < 1 or not host:
            raise OfferError("the parameters need rows >= 1 and an endpoint host:port")
        return params

    def check_against(self, offer: InferenceOffer, consumer: str) -> None:
        """The request fits the offer and its channel key belongs to the paying consumer."""
        if self.rows > offer.max_rows:
            raise OfferError(f"{self.rows} rows requested, the offer covers {offer.max_rows}")
        try:
            offer.architecture.check_mode(self.mode)
        except MPCError as exc:
            raise OfferError(str(exc)) from exc
        if address_of(self.buyer_public_key) != to_checksum_address(consumer):
            raise OfferError(
                "the buyer public key in the parameters is not the consumer's: refusing to "
                "talk to anyone but the account that paid"
            )
