"""The buyer's SDK call: "predict these rows privately with asset X", paid per row.

``predict_private`` opens the agreement (escrowing one block of ``max_rows`` rows, see
``insitu.inference.offer``), listens for the owner's worker on a TCP endpoint named in the
agreement's parameters, authenticates it with ECDH of the two Ethereum keys (the owner's public
key is in the asset's offer and must hash to the asset's provider address), opens its half of
the dealer's material — sealed to this buyer's key and signed by the independent dealer the
buyer named in the parameters, never by the owner — runs the protocol, and then checks the
fulfilment: the on-chain result hash must equal the buyer's own SHA-256 of
the output-shares message it received, and the payout must be exactly rows × price per row (the
rest refunded). The rows never leave the buyer except as uniformly random shares.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import numpy as np
from eth_account.signers.local import LocalAccount
from numpy.typing import ArrayLike, NDArray
from web3.logs import DISCARD

from insitu.chain import AgreementStatus
from insitu.chain.ids import bytes32
from insitu.inference.errors import DeliveryMismatch, InferenceError, OfferError
from insitu.inference.offer import InferenceParams, inference_offer, public_key
from insitu.inference.owner import MATERIAL_ACK
from insitu.inference.sealed_material import SealedMaterial
from insitu.market import Marketplace
from insitu.mpc import Buyer, PartyMaterial, PeerTimeout, ProtocolAbort
from insitu.mpc.dealer import PlanHeader
from insitu.mpc.transport import BUYER, Channel, handshake


@dataclass(frozen=True)
class PrivatePrediction:
    """Predictions and what they cost (token amounts in the asset's smallest unit)."""

    predictions: NDArray
    agreement_id: bytes
    rows: int
    mode: str
    escrowed: int
    paid: int
    refund: int
    bytes_exchanged: int
    online_seconds: float
    dealer_seconds: float
    seconds: float
    transactions: list[str] = field(default_factory=list)


def predict_private(
    market: Marketplace,
    buyer_account: LocalAccount,
    model_asset: bytes,
    rows: ArrayLike,
    mode: str = "labels",
    **options: object,
) -> NDArray:
    """Private predictions of ``model_asset`` on ``rows`` (see ``buy_predictions``)."""
    sale = buy_predictions(market, buyer_account, model_asset, rows, mode, **options)  # type: ignore[arg-type]
    return sale.predictions


def buy_predictions(
    market: Marketplace,
    buyer_account: LocalAccount,
    model_asset: bytes,
    rows: ArrayLike,
    mode: str = "labels",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    advertise_host: str | None = None,
    duration: int = 600,
    timeout: float = 60.0,
    dealer: str | None = None,
) -> PrivatePrediction:
    """Buy private predictions and return them with the session's cost and traffic.

    ``host``/``port`` is where this process listens for the owner's worker (port 0: any free
    port); ``advertise_host`` is the address the worker should dial if it differs (NAT).
    ``dealer`` is the address of the dealer this buyer trusts, one of the offer's (default: the
    offer's first). If the owner's worker rejects the agreement (e.g. its dealer is down), the
    escrow is already refunded and ``InferenceError`` says so. If the worker never connects
    within ``timeout`` seconds, ``PeerTimeout`` is raised and the escrow stays locked until
    ``duration`` seconds have passed; then ``escrow.refund_expired`` returns it.
    """
    start = time.perf_counter()
    x = np.asarray(rows, dtype=np.float64)
    offer = inference_offer(market, model_asset)
    if x.ndim != 2 or x.shape[1] != offer.architecture.n_features:
        raise OfferError(
            f"rows must be a 2-D array with {offer.architecture.n_features} columns, got shape "
            f"{x.shape}"
        )
    if not 1 <= x.shape[0] <= offer.max_rows:
        raise OfferError(
            f"{x.shape[0]} rows: one agreement covers 1 to {offer.max_rows}; split the rows."
        )
    with socket.create_server((host, port)) as listener:
        params = InferenceParams(
            x.shape[0],
            mode,
            advertise_host or host,
            listener.getsockname()[1],
            public_key(buyer_account),
            dealer or offer.dealers[0],
        )
        params.check_against(offer, buyer_account.address)
        creation, receipts = market.buy(
            buyer_account, model_asset, params=params.to_json(), duration=duration
        )
        agreement = creation.agreement_id
        sock = _await_owner(market, listener, agreement, timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    channel = handshake(
        sock,
        BUYER,
        private_key=bytes(buyer_account.key),
        peer_public_key=offer.provider_public_key,
        timeout=timeout,
    )
    party = Buyer(x)
    try:
        plan = offer.plan(params.rows, mode)
        material, dealer_seconds = _open_material(
            market, buyer_account, channel, params, agreement, plan
        )
        try:
            predictions = party.predict(channel, mode, material)
        except ProtocolAbort as exc:
            # Same type, so callers can tell a stalled peer from a tampered channel, with what
            # to do about the money: the owner cannot be paid for an aborted session.
            raise type(exc)(
                f"{exc}. The session with the model owner's worker (e.g. killed mid-session) "
                f"was aborted: nothing was delivered, so agreement 0x{agreement.hex()} cannot "
                "be fulfilled; refund it with refund_expired after its deadline."
            ) from exc
    finally:
        channel.close()
    report = party.last_report
    assert report is not None
    settled = market.wait_until_settled(agreement, timeout=timeout)
    paid, refund, tx = _check_fulfilment(
        market, creation.receipt.block_number, agreement, bytes.fromhex(report.commitment)
    )
    if settled.status != AgreementStatus.FULFILLED:
        raise DeliveryMismatch(f"agreement 0x{agreement.hex()} ended {settled.status.name}")
    if paid != x.shape[0] * offer.price_per_row or paid + refund != creation.terms.amount:
        raise DeliveryMismatch(
            f"the owner was paid {paid} for {x.shape[0]} rows at {offer.price_per_row} each: "
            "report it; the fulfilment is on-chain."
        )
    return PrivatePrediction(
        predictions=predictions,
        agreement_id=agreement,
        rows=x.shape[0],
        mode=mode,
        escrowed=creation.terms.amount,
        paid=paid,
        refund=refund,
        bytes_exchanged=report.traffic.total_bytes,
        online_seconds=report.seconds,
        dealer_seconds=dealer_seconds,
        seconds=time.perf_counter() - start,
        transactions=[r.tx_hash for r in receipts] + [tx],
    )


def _await_owner(
    market: Marketplace, listener: socket.socket, agreement: bytes, timeout: float
) -> socket.socket:
    """The owner worker's connection; stops early if the worker rejects the agreement."""
    end = time.monotonic() + timeout
    listener.settimeout(1.0)
    while True:
        try:
            sock, _ = listener.accept()
            sock.settimeout(None)
            return sock
        except TimeoutError:
            pass
        status = market.escrow.status(agreement)
        if status == AgreementStatus.REJECTED:
            raise InferenceError(
                f"the model owner's worker rejected agreement 0x{agreement.hex()} (its job log "
                "says why: e.g. the dealer is unavailable or the request does not fit the "
                "offer); the escrow was refunded to you: withdraw it or try another dealer."
            )
        if time.monotonic() >= end:
            raise PeerTimeout(
                f"the model owner's worker did not connect within {timeout:.0f} s; agreement "
                f"0x{agreement.hex()} stays locked: refund it with refund_expired after its "
                "deadline."
            )


def _open_material(
    market: Marketplace,
    buyer: LocalAccount,
    channel: Channel,
    params: InferenceParams,
    agreement: bytes,
    plan: PlanHeader,
) -> tuple[PartyMaterial, float]:
    """This buyer's half of the dealer's material (and the dealer's time), after checking the
    owner forwarded the receipt of the dealer *we* named, for this session; abort otherwise."""
    try:
        receipt = SealedMaterial.from_bytes(channel.recv())
        receipt.check(
            dealer=params.dealer,
            escrow=market.escrow,
            agreement_id=agreement,
            plan=plan,
        )
        material = receipt.open(market.store, buyer, BUYER)
    except InferenceError as exc:
        channel.abort()
        raise OfferError(
            f"{exc}. The session was aborted before any row was shared; agreement "
            f"0x{agreement.hex()} stays locked: refund it with refund_expired after its deadline."
        ) from exc
    channel.send(MATERIAL_ACK)
    return material, receipt.dealer_seconds


def _check_fulfilment(
    market: Marketplace, from_block: int, agreement: bytes, commitment: bytes
) -> tuple[int, int, str]:
    """(paid, refunded, fulfil tx) after checking the result hash against our commitment."""
    events = market.escrow.contract.events
    filt = {"agreementId": bytes32(agreement)}
    fulfilled = events.AgreementFulfilled().get_logs(from_block=from_block, argument_filters=filt)
    if not fulfilled:
        raise DeliveryMismatch(f"agreement 0x{agreement.hex()} has no fulfilment event")
    log = fulfilled[-1]
    if bytes(log["args"]["resultHash"]) != commitment:
        raise DeliveryMismatch(
            "the fulfilment's result hash is not the commitment to the output shares this "
            "buyer received: the owner claimed a different delivery; report it."
        )
    receipt = market.w3.eth.get_transaction_receipt(log["transactionHash"])
    refunds = events.AgreementPartiallyRefunded().process_receipt(receipt, errors=DISCARD)
    refund = sum(
        int(e["args"]["refund"]) for e in refunds if bytes(e["args"]["agreementId"]) == agreement
    )
    amount = market.escrow.terms(agreement).amount
    return amount - refund, refund, log["transactionHash"].to_0x_hex()
