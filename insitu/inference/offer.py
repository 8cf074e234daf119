"""The documents of a private-inference sale: the asset's offer and the agreement's parameters.

Pricing (see docs/private-inference.md, "Paying per row"): the escrow locks the asset's
on-chain price, so an inference asset is registered at ``price_per_row × max_rows`` — one
agreement buys up to ``max_rows`` rows. The buyer states its row count N in the agreement's
parameters; the owner's worker fulfils with ``fulfilPartial(payout = delivered × price_per_row)``
and the escrow refunds the unused ``(max_rows − delivered) × price_per_row`` in the same
transaction. The offer (per-row price, row cap, architecture, the provider's public key, the
dealers the owner accepts) sits in the asset's metadata under ``extra.inference``; the
parameters (N, mode, the buyer's endpoint and public key, the dealer the buyer picked) are the
agreement's params document, whose keccak256 is fixed on-chain.

The dealer is a third party both sides must trust not to collude with the other (see the trust
model in docs/private-inference.md): the owner lists the dealers it accepts, the buyer picks one
of them, and neither may be the dealer itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import coincurve
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from insitu.chain.types import AgreementCreated
from insitu.inference.errors import OfferError
from insitu.mpc.dealer import PlanHeader
from insitu.mpc.errors import MPCError
from insitu.mpc.model import MODES, Architecture
from insitu.storage import ContentStore

if TYPE_CHECKING:
    from insitu.market import Marketplace

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


def checksum_addresses(values: Sequence[str], what: str) -> tuple[str, ...]:
    """``values`` as checksummed addresses; ``OfferError`` naming ``what`` if one is not."""
    try:
        return tuple(to_checksum_address(v) for v in values)
    except (ValueError, TypeError) as exc:
        raise OfferError(f"{what}: {list(values)!r} holds a value that is not an address") from exc


@dataclass(frozen=True)
class InferenceOffer:
    """What a model owner sells: rows at ``price_per_row``, at most ``max_rows`` per agreement."""

    price_per_row: int
    max_rows: int
    architecture: Architecture
    provider_public_key: bytes
    dealers: tuple[str, ...]

    @property
    def provider(self) -> str:
        """The address of the provider's channel key (checked against the asset on purchase)."""
        return address_of(self.provider_public_key)

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
                "dealers": list(self.dealers),
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
                dealers=checksum_addresses(list(data["dealers"]), "the offer's dealers"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise OfferError(f"malformed inference offer in the asset metadata: {exc}") from exc

    def plan(self, rows: int, mode: str) -> PlanHeader:
        """The public plan of a session: what the dealer's material must be made for."""
        return PlanHeader(self.architecture.fingerprint, rows, mode)


def inference_offer(market: Marketplace, asset_id: bytes) -> InferenceOffer:
    """The asset's offer, checked: its channel key must belong to the asset's provider."""
    asset = market.asset(asset_id)
    offer = InferenceOffer.from_extra(market.metadata(asset_id).extra)
    if offer.provider.lower() != asset.provider.lower():
        raise OfferError(
            "the offer's provider key does not belong to the asset's provider: the metadata "
            "cannot be trusted; ask the owner to republish it."
        )
    if offer.asset_price != asset.price:
        raise OfferError(
            f"the asset costs {asset.price} on-chain but its offer says {offer.max_rows} rows × "
            f"{offer.price_per_row}: ask the owner to fix the price or the metadata."
        )
    return offer


@dataclass(frozen=True)
class InferenceParams:
    """The buyer's request, stored on IPFS as the agreement's params document."""

    rows: int
    mode: str
    host: str
    port: int
    buyer_public_key: bytes
    dealer: str

    def to_json(self) -> dict[str, Any]:
        """The params document (``Marketplace.store_params`` canonicalises and hashes it)."""
        return {
            "service": "private-inference/1",
            "rows": self.rows,
            "mode": self.mode,
            "endpoint": f"{self.host}:{self.port}",
            "buyer_public_key": "0x" + self.buyer_public_key.hex(),
            "dealer": self.dealer,
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
                dealer=checksum_addresses([str(data["dealer"])], "the parameters' dealer")[0],
            )
        except (KeyError, ValueError, TypeError, OfferError) as exc:
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
        check_dealer(offer, self.dealer, consumer)

    @classmethod
    def load(cls, store: ContentStore, created: AgreementCreated) -> InferenceParams:
        """The agreement's params document, checked against its on-chain hash."""
        if not created.params_cid:
            raise OfferError("the agreement has no parameters document (rows, mode, endpoint)")
        data = store.cat(created.params_cid)
        if keccak(data) != created.params_hash:
            raise OfferError("the parameters document does not match the agreement's params hash")
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise OfferError(f"the parameters document is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise OfferError("the parameters document is not a JSON object")
        return cls.from_json(document)


def check_dealer(offer: InferenceOffer, dealer: str, consumer: str) -> None:
    """``dealer`` is one the owner accepts and is neither party (either would learn the other's
    inputs from its own view plus the other half of the material)."""
    if dealer not in offer.dealers:
        raise OfferError(
            f"dealer {dealer} is not one the model owner accepts; pick one of {list(offer.dealers)}"
        )
    if dealer in (offer.provider, to_checksum_address(consumer)):
        raise OfferError(
            f"dealer {dealer} is one of the two parties: a party that deals its own material "
            "learns the other's inputs; pick an independent dealer"
        )
