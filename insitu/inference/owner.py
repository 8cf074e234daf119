"""The model owner's side of one paid session: deal, connect to the buyer, serve, get paid.

``serve_agreement`` is what the inference worker's Celery job runs for each ``AgreementCreated``
on one of its inference assets. Only the rows actually delivered are paid: the job fulfils with
``fulfilPartial(payout = rows × price_per_row)``, the result hash being the SHA-256 commitment to
the output-shares message the buyer received (the buyer checks it against its own view). If the
session fails — the buyer is unreachable or silent (``PeerTimeout``), a message is tampered with
(``ProtocolAbort``) — nothing is fulfilled, so the owner earns nothing and the buyer takes its
escrow back with ``refund_expired`` after the deadline.

The dealer runs here, in the owner's worker process (see the trust model in
docs/private-inference.md): its owner half stays in this process, its buyer half goes to the
buyer over the authenticated channel before the protocol starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from insitu.chain import AgreementEscrow, AgreementStatus
from insitu.chain.types import AgreementCreated
from insitu.inference.errors import OfferError
from insitu.inference.material_wire import encode_material
from insitu.inference.offer import InferenceOffer, InferenceParams
from insitu.mpc import ModelOwner, PeerTimeout, ProtocolAbort, prepare_material
from insitu.mpc.transport import OWNER, connect
from insitu.storage import ContentStore

MATERIAL_ACK = b"material-ok"


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


def load_params(store: ContentStore, created: AgreementCreated) -> InferenceParams:
    """The agreement's params document, checked against its on-chain hash."""
    if not created.params_cid:
        raise OfferError("the agreement has no parameters document (rows, mode, endpoint)")
    data = store.cat(created.params_cid)
    if keccak(data) != created.params_hash:
        raise OfferError("the parameters document does not match the agreement's params hash")
    return InferenceParams.from_json(json.loads(data))


def serve_agreement(
    escrow: AgreementEscrow,
    store: ContentStore,
    account: LocalAccount,
    model: Any,
    offer: InferenceOffer,
    agreement_id: bytes,
    *,
    timeout: float = 30.0,
    before_fulfil: Callable[[], None] | None = None,
) -> Delivery | None:
    """Run one paid session; ``None`` if the agreement is already settled (a redelivery).

    Raises ``OfferError`` for a request the offer does not cover, ``PeerTimeout`` /
    ``ProtocolAbort`` when the session fails; in every failure nothing is fulfilled.
    ``before_fulfil()`` runs right before the on-chain effect (the job's lock check).
    """
    if escrow.status(agreement_id) != AgreementStatus.LOCKED:
        return None
    created = escrow.created(agreement_id)
    params = load_params(store, created)
    params.check_against(offer, created.terms.consumer)
    owner = ModelOwner(model)
    material = prepare_material(owner.architecture, params.rows, params.mode)
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
        if channel.exchange(encode_material(material.buyer)) != MATERIAL_ACK:
            channel.abort()
            raise ProtocolAbort("the buyer did not acknowledge its dealer material")
        report = owner.serve(channel, material.owner)
    finally:
        channel.close()
    payout = report.n_rows * offer.price_per_row
    commitment = bytes.fromhex(report.commitment)
    if before_fulfil is not None:
        before_fulfil()
    receipt = escrow.fulfil_partial(account, agreement_id, commitment, "", payout, created.terms)
    return Delivery(
        rows=report.n_rows,
        mode=report.mode,
        commitment=commitment,
        payout=payout,
        refund=created.terms.amount - payout,
        bytes_exchanged=report.traffic.total_bytes,
        online_seconds=report.seconds,
        dealer_seconds=material.seconds,
        tx_hash=receipt.tx_hash,
    )
