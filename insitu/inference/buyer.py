"""The buyer's SDK call: "predict these rows privately with asset X", paid per row.

``predict_private`` opens the agreement (escrowing one block of ``max_rows`` rows, see
``insitu.inference.offer``), listens for the owner's worker on a TCP endpoint named in the
agreement's parameters, authenticates it with ECDH of the two Ethereum keys (the owner's public
key is in the asset's offer and must hash to the asset's provider address), runs the protocol,
and then checks the fulfilment: the on-chain result hash must equal the buyer's own SHA-256 of
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
from insitu.inference.errors import DeliveryMismatch, OfferError
from insitu.inference.material_wire import decode_material
from insitu.inference.offer import InferenceOffer, InferenceParams, address_of, public_key
from insitu.inference.owner import MATERIAL_ACK
from insitu.market import Marketplace
from insitu.mpc import Buyer, PeerTimeout
from insitu.mpc.transport import BUYER, handshake


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
    seconds: float
    transactions: list[str] = field(default_factory=list)


def inference_offer(market: Marketplace, asset_id: bytes) -> InferenceOffer:
    """The asset's offer, checked: its channel key must belong to the asset's provider."""
    asset = market.asset(asset_id)
    offer = InferenceOffer.from_extra(market.metadata(asset_id).extra)
    if address_of(offer.provider_public_key).lower() != asset.provider.lower():
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
) -> PrivatePrediction:
    """Buy private predictions and return them with the session's cost and traffic.

    ``host``/``port`` is where this process listens for the owner's worker (port 0: any free
    port); ``advertise_host`` is the address the worker should dial if it differs (NAT). If the
    worker never connects within ``timeout`` seconds, ``PeerTimeout`` is raised and the escrow
    stays locked until ``duration`` seconds have passed; then ``escrow.refund_expired`` returns
    it.
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
        listener.settimeout(timeout)
        params = InferenceParams(
            x.shape[0],
            mode,
            advertise_host or host,
            listener.getsockname()[1],
            public_key(buyer_account),
        )
        params.check_against(offer, buyer_account.address)
        creation, receipts = market.buy(
            buyer_account, model_asset, params=params.to_json(), duration=duration
        )
        agreement = creation.agreement_id
        try:
            sock, _ = listener.accept()
        except TimeoutError as exc:
            raise PeerTimeout(
                f"the model owner's worker did not connect within {timeout:.0f} s; agreement "
                f"0x{agreement.hex()} stays locked: refund it with refund_expired after its "
                "deadline."
            ) from exc
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
        material = decode_material(channel.exchange(MATERIAL_ACK))
        if material.role != BUYER:
            channel.abort()
            raise OfferError("the owner sent dealer material for the wrong party")
        predictions = party.predict(channel, mode, material)
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
        seconds=time.perf_counter() - start,
        transactions=[r.tx_hash for r in receipts] + [tx],
    )


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
