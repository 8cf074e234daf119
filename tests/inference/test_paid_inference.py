"""Private inference sold per row through the escrow, with the owner's real worker processes."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from inference_harness import MAX_ROWS, PRICE_PER_ROW, InferenceEnv

from insitu.chain import AgreementStatus
from insitu.inference import InferenceParams, OfferError, buy_predictions, public_key
from insitu.inference.owner import MATERIAL_ACK


def test_private_predictions_equal_plaintext_and_cost_rows_times_price(
    inference_env: InferenceEnv,
) -> None:
    env = inference_env
    rows = env.rows[:50]
    escrow = env.market.escrow
    token = env.market.token.address
    payee_before = escrow.withdrawable(env.owner.address, token)
    buyer_before = escrow.withdrawable(env.buyer.address, token)
    sale = buy_predictions(env.market, env.buyer, env.asset, rows, "labels", timeout=30)
    np.testing.assert_array_equal(sale.predictions, env.model.predict(rows))  # type: ignore[attr-defined]
    assert sale.escrowed == MAX_ROWS * PRICE_PER_ROW
    assert sale.paid == 50 * PRICE_PER_ROW
    assert sale.refund == (MAX_ROWS - 50) * PRICE_PER_ROW
    fee = sale.escrowed * escrow.fee_bps() // 10_000 * sale.paid // sale.escrowed
    assert escrow.withdrawable(env.owner.address, token) - payee_before == sale.paid - fee
    assert escrow.withdrawable(env.buyer.address, token) - buyer_before == sale.refund
    assert escrow.status(sale.agreement_id) == AgreementStatus.FULFILLED
    record = env.wait_job(sale.agreement_id)
    assert record.state == "done"
    served = json.loads(record.result_ref or "{}")
    assert served["rows"] == 50 and int(served["payout"]) == sale.paid
    assert sale.bytes_exchanged > 0


def test_buyer_that_disappears_gets_no_delivery_and_a_refund_after_the_deadline(
    inference_env: InferenceEnv,
) -> None:
    env = inference_env
    escrow = env.market.escrow
    token = env.market.token.address
    # A buyer that opened the agreement and went silent: its port takes the TCP connection
    # (kernel backlog) but nobody ever answers the handshake.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        params = InferenceParams(
            10,
            "labels",
            "127.0.0.1",
            silent.getsockname()[1],
            public_key(env.buyer),
            env.dealer.address,
        )
        creation, _ = env.market.buy(env.buyer, env.asset, params=params.to_json(), duration=120)
        record = env.wait_job(creation.agreement_id)
    assert record.state == "failed" and record.reason_code == "buyer_gone"
    assert escrow.status(creation.agreement_id) == AgreementStatus.LOCKED
    before = escrow.withdrawable(env.buyer.address, token)
    env.travel(200)
    escrow.refund_expired(env.operator, creation.agreement_id)
    assert escrow.withdrawable(env.buyer.address, token) - before == creation.terms.amount
    assert escrow.status(creation.agreement_id) == AgreementStatus.REFUNDED


def test_tampered_message_aborts_without_payment(inference_env: InferenceEnv) -> None:
    env = inference_env
    escrow = env.market.escrow
    owner_before = escrow.withdrawable(env.owner.address, env.market.token.address)
    agreement, channel, _ = env.open_as_buyer()  # the first message: the dealer's receipt
    channel.send(MATERIAL_ACK)
    # The first protocol message with one bit flipped in its tag: the owner's HMAC check must
    # catch it and abort the session.
    frame = bytearray(channel._frame(b"10:labels"))
    frame[-1] ^= 1
    channel._sock.sendall(bytes(frame))
    record = env.wait_job(agreement)
    channel.abort()
    assert record.state == "failed" and record.reason_code == "protocol_abort"
    assert escrow.status(agreement) == AgreementStatus.LOCKED
    assert escrow.withdrawable(env.owner.address, env.market.token.address) == owner_before


def test_request_above_the_offer_is_rejected_and_refunded_at_once(
    inference_env: InferenceEnv,
) -> None:
    env = inference_env
    escrow = env.market.escrow
    before = escrow.withdrawable(env.buyer.address, env.market.token.address)
    params = InferenceParams(
        MAX_ROWS + 1, "labels", "127.0.0.1", 9, public_key(env.buyer), env.dealer.address
    )
    creation, _ = env.market.buy(env.buyer, env.asset, params=params.to_json(), duration=600)
    record = env.wait_job(creation.agreement_id)
    assert record.state == "failed" and record.reason_code == "bad_request"
    assert env.market.wait_until_settled(creation.agreement_id, 10).status == (
        AgreementStatus.REJECTED
    )
    after = escrow.withdrawable(env.buyer.address, env.market.token.address)
    assert after - before == creation.terms.amount


def test_sdk_refuses_more_rows_than_one_agreement_covers(inference_env: InferenceEnv) -> None:
    env = inference_env
    rows = np.zeros((MAX_ROWS + 1, env.offer.architecture.n_features))
    with pytest.raises(OfferError, match="split the rows"):
        buy_predictions(env.market, env.buyer, env.asset, rows, "labels")
