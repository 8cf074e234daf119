"""The dealer as a service: an independent party's worker that deals each session's material.

Beaver-triple material is what keeps the two parties honest-but-curious *and blind*: whoever
holds both halves can strip the masks off everything the other party opens. So the dealer is
neither the model owner nor the buyer but a third organisation running its own worker
(``insitu.inference.dealer_app``, Celery on queue ``insitu.<organisation>``) with its own key.

For each session the owner's worker asks the dealer with ``request_material``; the dealer's
``deal`` checks everything itself on-chain and on IPFS — the agreement is open, its parameters
name this dealer, the request fits the asset's offer — then generates material for the public
plan only, seals each half to its party (``SealedMaterial``) and returns the signed receipt.
Every request gets fresh material: material is single-use, and a repeated request (the owner's
job retried after a crash) must not replay triples the buyer already used.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from insitu.chain import AgreementStatus
from insitu.crypto.ecies import encrypt
from insitu.inference.errors import DealerUnavailable, OfferError
from insitu.inference.material_wire import encode_material
from insitu.inference.offer import InferenceParams, inference_offer
from insitu.inference.sealed_material import SealedMaterial
from insitu.market import Marketplace
from insitu.mpc import DealerMaterial, prepare_material
from insitu.storage import ContentStore
from insitu.worker import job_store, make_celery

DEAL_TASK = "insitu.inference.deal"


def deal(market: Marketplace, dealer: LocalAccount, agreement_id: bytes) -> SealedMaterial:
    """Deal, seal and sign the material of one open private-inference agreement.

    ``OfferError`` if the agreement is not open, does not name this dealer, or its request does
    not fit the asset's offer: the dealer trusts nothing the requester says beyond the id.
    """
    status = market.escrow.status(agreement_id)
    if status != AgreementStatus.LOCKED:
        raise OfferError(f"agreement 0x{agreement_id.hex()} is {status.name}: nothing to deal")
    created = market.escrow.created(agreement_id)
    params = InferenceParams.load(market.store, created)
    if params.dealer != dealer.address:
        raise OfferError(
            f"agreement 0x{agreement_id.hex()} names dealer {params.dealer}, not {dealer.address}"
        )
    offer = inference_offer(market, created.terms.asset_id)
    params.check_against(offer, created.terms.consumer)
    material = prepare_material(offer.architecture, params.rows, params.mode)
    owner_cid, buyer_cid = seal_material(
        market.store, material, offer.provider_public_key, params.buyer_public_key
    )
    receipt = SealedMaterial(
        chain_id=market.w3.eth.chain_id,
        escrow=market.escrow.address,
        agreement_id="0x" + agreement_id.hex(),
        architecture_id=offer.architecture.fingerprint,
        rows=params.rows,
        mode=params.mode,
        owner_cid=owner_cid,
        buyer_cid=buyer_cid,
        dealer=dealer.address,
        dealer_seconds=round(material.seconds, 4),
    )
    return receipt.signed(dealer)


def seal_material(
    store: ContentStore, material: DealerMaterial, owner_key: bytes, buyer_key: bytes
) -> tuple[str, str]:
    """Encrypt each half to its party's public key and store both: (owner CID, buyer CID)."""
    owner_half = encrypt(owner_key, encode_material(material.owner))
    buyer_half = encrypt(buyer_key, encode_material(material.buyer))
    return store.add(owner_half), store.add(buyer_half)


@dataclass(frozen=True)
class DealerEndpoint:
    """Where a model owner's worker reaches one dealer: its Celery queue on a Redis broker."""

    address: str
    queue: str
    redis_url: str

    @classmethod
    def from_option(cls, address: str, value: Any, default_redis_url: str) -> DealerEndpoint:
        """Parse one entry of a worker config's ``[options.dealers]`` table.

        ``"0x…" = "insitu.<dealer organisation>"`` (the dealer on this worker's own broker) or
        ``"0x…" = { queue = "…", redis_url = "redis://…" }`` (the dealer's own broker).
        """
        if isinstance(value, str):
            return cls(to_checksum_address(address), value, default_redis_url)
        if isinstance(value, dict) and isinstance(value.get("queue"), str):
            url = value.get("redis_url", default_redis_url)
            return cls(to_checksum_address(address), value["queue"], str(url))
        raise DealerUnavailable(
            f'[options.dealers] "{address}" must be a queue name or {{ queue = "…", '
            'redis_url = "…" }'
        )


@cache
def _client(redis_url: str) -> Celery:
    return make_celery(redis_url, "insitu-dealer-client", set_as_current=False)


def request_material(
    endpoint: DealerEndpoint, agreement_id: bytes, timeout: float
) -> SealedMaterial:
    """Ask the dealer at ``endpoint`` for a session's material and wait for its receipt.

    ``DealerUnavailable`` if the dealer does not answer within ``timeout`` seconds (the request
    then expires unserved) or refuses the agreement.
    """
    app = _client(endpoint.redis_url)
    job_id = f"dealer:0x{agreement_id.hex()}:{secrets.token_hex(4)}"
    result = app.send_task(
        DEAL_TASK,
        kwargs={"job_id": job_id, "payload": {"agreement_id": "0x" + agreement_id.hex()}},
        queue=endpoint.queue,
        expires=timeout,
    )
    try:
        # Waiting on another worker's task from inside a task is safe here: the dealer is a
        # different worker on its own queue, so this cannot wait on itself.
        outcome = result.get(timeout=timeout, disable_sync_subtasks=False)
    except CeleryTimeout as exc:
        raise DealerUnavailable(
            f"dealer {endpoint.address} (queue {endpoint.queue}) did not answer within "
            f"{timeout:.0f} s: is its worker running?"
        ) from exc
    finally:
        result.forget()
    if outcome.get("state") != "done" or not outcome.get("result_ref"):
        letter = job_store(app).dead_letter(job_id)
        why = letter.message if letter else outcome.get("reason_code", outcome.get("state"))
        raise DealerUnavailable(f"dealer {endpoint.address} refused the session: {why}")
    return SealedMaterial.from_bytes(str(outcome["result_ref"]).encode())
