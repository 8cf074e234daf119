"""The dealer is an independent worker: the owner relays material it cannot read or forge."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from eth_account import Account
from inference_harness import DEALER_ORG, PRICE_PER_ROW, InferenceEnv

from insitu.chain import AgreementStatus
from insitu.chain.types import AgreementCreated
from insitu.inference import (
    DealerUnavailable,
    InferenceError,
    InferenceParams,
    OfferError,
    buy_predictions,
    publish_model,
)
from insitu.inference.dealer_service import DealerEndpoint, deal, request_material
from insitu.inference.owner import MATERIAL_ACK
from insitu.inference.sealed_material import SealedMaterial
from insitu.mpc import ProtocolAbort
from insitu.mpc.transport import BUYER, OWNER, Channel, connect
from insitu.worker import queue_name


def _open_as_buyer(env: InferenceEnv) -> tuple[bytes, Channel, SealedMaterial]:
    agreement, channel, first = env.open_as_buyer()
    return agreement, channel, SealedMaterial.from_bytes(first)


def test_the_owner_forwards_material_sealed_for_the_buyer_that_it_cannot_open(
    inference_env: InferenceEnv,
) -> None:
    env = inference_env
    agreement, channel, receipt = _open_as_buyer(env)
    try:
        plan = env.offer.plan(10, "labels")
        receipt.check(
            dealer=env.dealer.address,
            escrow=env.market.escrow,
            agreement_id=agreement,
            plan=plan,
        )
        assert receipt.dealer == env.dealer.address != env.owner.address
        mine = receipt.open(env.market.store, env.buyer, BUYER)
        assert mine.role == BUYER and mine.header == plan and mine.nbytes > 0
        # The owner's key opens neither the buyer's half nor does the buyer's open the owner's.
        with pytest.raises(OfferError, match="sealed for another key"):
            receipt.open(env.market.store, env.owner, BUYER)
        with pytest.raises(OfferError, match="sealed for another key"):
            receipt.open(env.market.store, env.buyer, OWNER)
        # A receipt for another agreement (a replay) is refused.
        with pytest.raises(OfferError, match="made for"):
            receipt.check(
                dealer=env.dealer.address,
                escrow=env.market.escrow,
                agreement_id=bytes(32),
                plan=plan,
            )
    finally:
        channel.abort()
    env.wait_job(agreement)


def test_material_signed_by_anyone_but_the_named_dealer_is_refused(
    inference_env: InferenceEnv,
) -> None:
    env = inference_env
    agreement, channel, receipt = _open_as_buyer(env)
    channel.abort()
    env.wait_job(agreement)
    context = {
        "dealer": env.dealer.address,
        "escrow": env.market.escrow,
        "agreement_id": agreement,
        "plan": env.offer.plan(10, "labels"),
    }
    receipt.check(**context)  # type: ignore[arg-type]
    # The owner dealing its own material (and so knowing the buyer's half) and signing for it:
    forged = replace(receipt, dealer=env.owner.address).signed(env.owner)
    with pytest.raises(OfferError, match=f"signed by {env.owner.address}, not by the agreement"):
        forged.check(**context)  # type: ignore[arg-type]
    # The dealer's own signature over different CIDs does not carry over.
    swapped = replace(receipt, buyer_cid=receipt.owner_cid)
    with pytest.raises(OfferError, match="not by the agreement's dealer"):
        swapped.check(**context)  # type: ignore[arg-type]


def test_a_dealer_refuses_an_agreement_that_does_not_name_it(inference_env: InferenceEnv) -> None:
    env = inference_env
    agreement, channel, _ = _open_as_buyer(env)
    try:
        with pytest.raises(OfferError, match=f"names dealer {env.dealer.address}"):
            deal(env.market, env.idle_dealer, agreement)
        assert deal(env.market, env.dealer, agreement).dealer == env.dealer.address
    finally:
        channel.abort()
    env.wait_job(agreement)


def test_a_dealer_that_is_down_gets_the_agreement_rejected_and_refunded_at_once(
    inference_env: InferenceEnv,
) -> None:
    env = inference_env
    escrow = env.market.escrow
    token = env.market.token.address
    before = escrow.withdrawable(env.buyer.address, token)
    with pytest.raises(InferenceError, match=r"rejected agreement .* refunded to you"):
        buy_predictions(
            env.market, env.buyer, env.asset, env.rows[:5], dealer=env.idle_dealer.address
        )
    refunded = escrow.withdrawable(env.buyer.address, token) - before
    assert refunded == env.offer.asset_price
    created = [c for c in escrow.created_events() if c.terms.consumer == env.buyer.address][-1]
    record = env.wait_job(created.agreement_id)
    assert record.state == "failed" and record.reason_code == "dealer_unavailable"
    assert escrow.status(created.agreement_id) == AgreementStatus.REJECTED
    with pytest.raises(OfferError, match="is REJECTED: nothing to deal"):
        deal(env.market, env.idle_dealer, created.agreement_id)


def test_the_buyer_cannot_pick_a_party_or_an_unlisted_dealer(inference_env: InferenceEnv) -> None:
    env = inference_env
    stranger = Account.create().address
    with pytest.raises(OfferError, match="not one the model owner accepts"):
        buy_predictions(env.market, env.buyer, env.asset, env.rows[:2], dealer=stranger)
    # The owner cannot sneak itself in either: publishing refuses it as a dealer.
    with pytest.raises(ValueError, match="not the owner itself"):
        publish_model(
            env.market,
            env.owner,
            env.model,
            name="x",
            description="x",
            price_per_row=PRICE_PER_ROW,
            max_rows=10,
            dealers=[env.owner.address],
        )


def test_a_dealer_deals_fresh_material_per_request_up_to_a_limit(
    inference_env: InferenceEnv,
) -> None:
    env = inference_env
    agreement, channel, first = _open_as_buyer(env)  # the owner's worker asked once
    try:
        endpoint = DealerEndpoint(env.dealer.address, queue_name(DEALER_ORG), env.redis_url)
        again = [request_material(endpoint, agreement, timeout=30) for _ in range(2)]
        cids = {r.buyer_cid for r in [first, *again]}
        assert len(cids) == 3  # never the same material twice: it is single-use
        with pytest.raises(DealerUnavailable, match="already dealt 3 times"):
            request_material(endpoint, agreement, timeout=30)
    finally:
        channel.abort()
    env.wait_job(agreement)


def test_an_owner_that_dies_mid_session_leaves_the_buyer_a_clear_error(
    inference_env: InferenceEnv,
) -> None:
    env = inference_env
    # A second model of the same owner that its worker does not serve: this test plays that
    # owner's worker by hand, with material from the real dealer, and dies after the handshake.
    publication, _ = publish_model(
        env.market,
        env.owner,
        env.model,
        name="unserved",
        description="played by the test",
        price_per_row=PRICE_PER_ROW,
        max_rows=10,
        dealers=[env.dealer.address],
    )
    outcome: dict[str, BaseException] = {}

    def buy() -> None:
        try:
            buy_predictions(env.market, env.buyer, publication.asset_id, env.rows[:5], timeout=60)
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    buyer = threading.Thread(target=buy)
    buyer.start()
    created = _wait_for_agreement(env, publication.asset_id)
    params = InferenceParams.load(env.market.store, created)
    endpoint = DealerEndpoint(env.dealer.address, queue_name(DEALER_ORG), env.redis_url)
    receipt = request_material(endpoint, created.agreement_id, timeout=30)
    channel = connect(
        (params.host, params.port),
        OWNER,
        private_key=bytes(env.owner.key),
        peer_public_key=params.buyer_public_key,
        timeout=30,
    )
    channel.send(receipt.to_bytes())
    assert channel.recv() == MATERIAL_ACK
    channel._sock.close()  # killed: no goodbye, the connection just ends
    buyer.join(60)
    error = outcome.get("error")
    assert isinstance(error, ProtocolAbort), error
    assert f"agreement 0x{created.agreement_id.hex()} cannot be fulfilled" in str(error)
    assert "refund_expired" in str(error)
    assert env.market.escrow.status(created.agreement_id) == AgreementStatus.LOCKED


def _wait_for_agreement(env: InferenceEnv, asset: bytes) -> AgreementCreated:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        mine = [c for c in env.market.escrow.created_events() if c.terms.asset_id == asset]
        if mine:
            return mine[-1]
        time.sleep(0.1)
    raise AssertionError("the buyer opened no agreement")
