"""The model owner's side of one paid session: get material, connect to the buyer, serve, get paid.

``serve_agreement`` is what the inference worker's Celery job runs for each ``AgreementCreated``
on one of its inference assets. It asks the dealer the buyer named (an independent worker, see
``insitu.inference.dealer_service``) for the session's sealed material, opens its own half,
dials the buyer and forwards the dealer's signed receipt, from which the buyer opens its half:
the owner never holds the buyer's half. Only the rows actually delivered are paid: the job
fulfils with ``fulfilPartial(payout = rows × price_per_row)``, the result hash being the SHA-256
commitment to the output-shares message the buyer received (the buyer checks it against its own
view). If the session fails — the buyer is unreachable or silent (``PeerTimeout``), a message is
tampered with (``ProtocolAbort``) — nothing is fulfilled, so the owner earns nothing and the
buyer takes its escrow back with ``refund_expired`` after the deadline; if the dealer is
unavailable (``DealerUnavailable``) the worker rejects the agreement, which refunds at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from insitu.chain import AgreementEscrow, AgreementStatus
from insitu.inference.offer import InferenceOffer, InferenceParams
from insitu.inference.sealed_material import SealedMaterial
from insitu.mpc import ModelOwner, PeerTimeout, ProtocolAbort
from insitu.mpc.transport import OWNER, connect
from insitu.storage import ContentStore

MATERIAL_ACK = b"material-ok"

#: ``(dealer address, agreement id) -> the dealer's signed receipt`` (``DealerUnavailable``).
MaterialSource = Callable[[str, bytes], SealedMaterial]


@dataclass(frozen=True)
class Delivery:
    """A served and paid session."""

    rows: int
    mode: str
    commitment: bytes
    payout: int
    refund: int
    bytes_exchanged: int
    online_seconds: float
    dealer_seconds: float
    tx_hash: str


def serve_agreement(
    escrow: AgreementEscrow,
    store: ContentStore,
    account: LocalAccount,
    model: Any,
    offer: InferenceOffer,
    agreement_id: bytes,
    material_from: MaterialSource,
    *,
    timeout: float = 30.0,
    before_fulfil: Callable[[], None] | None = None,
) -> Delivery | None:
    """Run one paid session; ``None`` if the agreement is already settled (a redelivery).

    Raises ``OfferError`` for a request the offer does not cover, ``DealerUnavailable`` when
    the dealer cannot serve it, ``PeerTimeout`` / ``ProtocolAbort`` when the session fails; in
    every failure nothing is fulfilled. ``before_fulfil()`` runs right before the on-chain
    effect (the job's lock check).
    """
    if escrow.status(agreement_id) != AgreementStatus.LOCKED:
        return None
    created = escrow.created(agreement_id)
    params = InferenceParams.load(store, created)
    params.check_against(offer, created.terms.consumer)
    owner = ModelOwner(model)
    receipt = material_from(params.dealer, agreement_id)
    receipt.check(
        dealer=params.dealer,
        escrow=escrow,
        agreement_id=agreement_id,
        plan=offer.plan(params.rows, params.mode),
    )
    material = receipt.open(store, account, OWNER)
    try:
        channel = connect(
            (params.host, params.port),
            OWNER,
            private_key=bytes(account.key),
            peer_public_key=params.buyer_public_key,
            timeout=timeout,
        )
    except TimeoutError as exc:
        raise PeerTimeout(f"the buyer at {params.host}:{params.port} did not answer") from exc
    except OSError as exc:
        where = f"{params.host}:{params.port}"
        raise PeerTimeout(f"the buyer at {where} is unreachable: {exc}") from exc
    try:
        channel.send(receipt.to_bytes())
        if channel.recv() != MATERIAL_ACK:
            channel.abort()
            raise ProtocolAbort("the buyer did not accept the dealer's material")
        report = owner.serve(channel, material)
    finally:
        channel.close()
    payout = report.n_rows * offer.price_per_row
    commitment = bytes.fromhex(report.commitment)
    if before_fulfil is not None:
        before_fulfil()
    receipt_tx = escrow.fulfil_partial(account, agreement_id, commitment, "", payout, created.terms)
    return Delivery(
        rows=report.n_rows,
        mode=report.mode,
        commitment=commitment,
        payout=payout,
        refund=created.terms.amount - payout,
        bytes_exchanged=report.traffic.total_bytes,
        online_seconds=report.seconds,
        dealer_seconds=receipt.dealer_seconds,
        tx_hash=receipt_tx.tx_hash,
    )
