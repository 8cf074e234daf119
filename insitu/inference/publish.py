"""Publish a fitted scikit-learn model as an inference-mode asset priced per row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount

from insitu.chain import AccessMode
from insitu.inference.offer import InferenceOffer, checksum_addresses, public_key
from insitu.market import Marketplace, Publication
from insitu.mpc import share_model


def publish_model(
    market: Marketplace,
    owner: LocalAccount,
    model: Any,
    *,
    name: str,
    description: str,
    price_per_row: int,
    max_rows: int,
    dealers: Sequence[str],
    token: str | None = None,
) -> tuple[Publication, InferenceOffer]:
    """Register ``model`` as a ``model`` asset in inference mode; the weights stay here.

    Only the architecture (layer widths, activations, classes) is published, in the metadata's
    offer, with the owner's channel public key and the ``dealers`` (addresses of independent
    dealer workers) the owner accepts, the buyer picking one; the on-chain price is
    ``price_per_row × max_rows`` (one agreement's block, see ``insitu.inference.offer``). The
    owner is the provider: its worker fulfils with this account.
    """
    if price_per_row < 0 or max_rows < 1:
        raise ValueError("price_per_row must be >= 0 and max_rows >= 1")
    accepted = checksum_addresses(list(dealers), "dealers")
    if not accepted or owner.address in accepted:
        raise ValueError(
            "name at least one dealer, and not the owner itself: a party that deals its own "
            "material learns the buyer's rows"
        )
    offer = InferenceOffer(
        price_per_row=price_per_row,
        max_rows=max_rows,
        architecture=share_model(model).architecture,
        provider_public_key=public_key(owner),
        dealers=accepted,
    )
    publication = market.publish(
        owner,
        {"name": name, "kind": "model", "description": description, "extra": offer.to_extra()},
        price=offer.asset_price,
        mode=AccessMode.INFERENCE,
        token=token,
    )
    return publication, offer
