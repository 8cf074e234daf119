"""AgreementEscrow through the SDK: creation, settlement, pull payments, fees, every revert."""

from __future__ import annotations

from typing import Any

import pytest
from chain_helpers import (
    ALGO,
    CID,
    FEE_BPS,
    OTHER_ALGO,
    PARAMS,
    PRICE,
    RESULT,
    Chain,
    buy,
    event_names,
    register,
    register_eth,
    reverts,
    salt,
)
from eth_utils import keccak
from web3.logs import DISCARD

from insitu.chain import (
    NATIVE_TOKEN,
    AccessMode,
    AgreementStatus,
    Creation,
    Terms,
    agreement_id,
)
from insitu.chain.ids import commitment, terms_hash

FEE = PRICE * FEE_BPS // 10_000
MAX_DURATION = 90 * 24 * 3600


def _create(chain: Chain, asset: bytes, **overrides: Any) -> Creation:
    args: dict[str, Any] = dict(
        max_price=PRICE,
        deadline=chain.now() + 3600,
        algorithm_hash=ALGO,
        params_hash=PARAMS,
        params_cid=CID,
    )
    args.update(overrides)
    return chain.escrow.create(chain.consumer, asset, salt(), **args)


# ------------------------------------------------------------------ creation


def test_create_erc20_locks_the_price(chain: Chain) -> None:
    asset = register(chain)
    before = chain.token.balance_of(chain.consumer.address)
    creation = buy(chain, asset)
    assert chain.token.balance_of(chain.consumer.address) == before - PRICE
    assert chain.token.balance_of(chain.escrow.address) == PRICE
    assert creation.terms == Terms(
        asset_id=asset,
        consumer=chain.consumer.address,
        payee=chain.owner.address,
        provider=chain.provider.address,
        token=chain.token.address,
        amount=PRICE,
        fee=FEE,
    )
    stored = chain.escrow.get(creation.agreement_id)
    assert stored.status == AgreementStatus.LOCKED
    assert stored.commitment == commitment(terms_hash(creation.terms))
    assert chain.escrow.contract.functions.hashTerms(creation.terms.as_tuple()).call() == (
        terms_hash(creation.terms)
    )
    record = chain.escrow.created(creation.agreement_id)
    assert (record.algorithm_hash, record.params_hash, record.params_cid) == (ALGO, PARAMS, CID)
    assert record.deadline == stored.deadline
    assert event_names(chain.escrow.contract, creation.receipt) == ["AgreementCreated"]


def test_agreement_id_is_bound_to_consumer_and_salt(chain: Chain) -> None:
    asset = register(chain)
    chain.token.approve(chain.consumer, chain.escrow.address, 2 * PRICE)
    s = salt()
    creation = chain.escrow.create(
        chain.consumer, asset, s, max_price=PRICE, deadline=chain.now() + 60, algorithm_hash=ALGO
    )
    assert creation.agreement_id == agreement_id(chain.consumer.address, s)
    assert (
        creation.agreement_id
        == chain.escrow.contract.functions.agreementIdOf(chain.consumer.address, s).call()
    )
    with reverts("AgreementExists", agreementId=creation.agreement_id):
        chain.escrow.create(
            chain.consumer,
            asset,
            s,
            max_price=PRICE,
            deadline=chain.now() + 60,
            algorithm_hash=ALGO,
        )


def test_create_eth_needs_the_exact_value(chain: Chain) -> None:
    asset = register_eth(chain)
    with reverts("WrongPayment", sent=PRICE - 1, expected=PRICE):
        _create(chain, asset, value=PRICE - 1)
    with reverts("WrongPayment", sent=PRICE + 1, expected=PRICE):
        _create(chain, asset, value=PRICE + 1)
    creation = _create(chain, asset)  # the SDK sends the price as value
    assert chain.w3.eth.get_balance(chain.escrow.address) == PRICE
    assert creation.terms.token == NATIVE_TOKEN


def test_create_erc20_refuses_ether(chain: Chain) -> None:
    asset = register(chain)
    chain.token.approve(chain.consumer, chain.escrow.address, PRICE)
    with reverts("WrongPayment", sent=1, expected=0):
        _create(chain, asset, value=1)


def test_create_needs_allowance_and_balance(chain: Chain) -> None:
    asset = register(chain)
    with reverts("ERC20InsufficientAllowance"):
        _create(chain, asset)
    chain.token.approve(chain.stranger, chain.escrow.address, PRICE)
    with reverts("ERC20InsufficientBalance"):
        chain.escrow.create(
            chain.stranger,
            asset,
            salt(),
            max_price=PRICE,
            deadline=chain.now() + 60,
            algorithm_hash=ALGO,
        )


@pytest.mark.parametrize("offset", [None, 0, -10, MAX_DURATION + 60])
def test_deadline_must_be_future_and_bounded(chain: Chain, offset: int | None) -> None:
    asset = register(chain)
    chain.token.approve(chain.consumer, chain.escrow.address, PRICE)
    deadline = 0 if offset is None else chain.now() + offset
    with reverts("InvalidDeadline", deadline=deadline):
        _create(chain, asset, deadline=deadline)


def test_deadline_at_the_maximum_is_accepted(chain: Chain) -> None:
    asset = register(chain)
    chain.token.approve(chain.consumer, chain.escrow.address, PRICE)
    # The next block is at least one second later: MAX_DURATION from now is still in range.
    creation = _create(chain, asset, deadline=chain.now() + MAX_DURATION)
    assert chain.escrow.status(creation.agreement_id) == AgreementStatus.LOCKED


def test_max_price_guards_against_a_price_raise(chain: Chain) -> None:
    asset = register(chain)
    chain.registry.set_price(chain.owner, asset, 2 * PRICE, chain.token.address)
    chain.token.approve(chain.consumer, chain.escrow.address, 2 * PRICE)
    with reverts("PriceAboveMax", price=2 * PRICE, maxPrice=PRICE):
        _create(chain, asset)


def test_create_checks_the_asset(chain: Chain) -> None:
    asset = register(chain)
    chain.token.approve(chain.consumer, chain.escrow.address, PRICE)
    with reverts("AssetNotFound"):
        _create(chain, keccak(b"no such asset"))
    with reverts("AlgorithmNotAllowed", algorithmHash=OTHER_ALGO):
        _create(chain, asset, algorithm_hash=OTHER_ALGO)


# ------------------------------------------------------------------ fulfil


def test_fulfil_releases_payment_minus_fee(chain: Chain) -> None:
    creation = buy(chain, register(chain))
    receipt = chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
    assert event_names(chain.escrow.contract, receipt) == [
        "AgreementFulfilled",
        "Credited",
        "Credited",
    ]
    token = chain.token.address
    assert chain.escrow.withdrawable(chain.owner.address, token) == PRICE - FEE
    assert chain.escrow.withdrawable(chain.fee_recipient.address, token) == FEE
    assert chain.escrow.withdrawable(chain.consumer.address, token) == 0
    stored = chain.escrow.get(creation.agreement_id)
    assert stored.status == AgreementStatus.FULFILLED
    assert stored.proves_result(RESULT) and not stored.proves_result(keccak(b"other"))
    log = chain.escrow.contract.events.AgreementFulfilled().process_receipt(
        receipt.raw, errors=DISCARD
    )[0]
    assert log["args"]["resultCid"] == CID and log["args"]["resultHash"] == RESULT


def test_nobody_is_paid_twice(chain: Chain) -> None:
    creation = buy(chain, register(chain))
    chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
    status = int(AgreementStatus.FULFILLED)
    with reverts("AgreementNotLocked", status=status):
        chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
    with reverts("AgreementNotLocked", status=status):
        chain.escrow.reject(chain.provider, creation.agreement_id)
    chain.travel(7200)
    with reverts("AgreementNotLocked", status=status):
        chain.escrow.refund_expired(chain.stranger, creation.agreement_id)


def test_only_the_provider_in_the_terms_settles(chain: Chain) -> None:
    creation = buy(chain, register(chain))
    with reverts("NotProvider", caller=chain.stranger.address):
        chain.escrow.fulfil(chain.stranger, creation.agreement_id, RESULT, CID)
    with reverts("NotProvider", caller=chain.owner.address):
        chain.escrow.reject(chain.owner, creation.agreement_id)


def test_forged_terms_are_refused(chain: Chain) -> None:
    creation = buy(chain, register(chain))
    forged = [
        Terms(**{**creation.terms.__dict__, "payee": chain.stranger.address}),
        Terms(**{**creation.terms.__dict__, "provider": chain.stranger.address}),
        Terms(**{**creation.terms.__dict__, "fee": 0}),
        Terms(**{**creation.terms.__dict__, "amount": PRICE * 2}),
    ]
    for terms in forged:
        sender = chain.stranger if terms.provider == chain.stranger.address else chain.provider
        with reverts("TermsMismatch", agreementId=creation.agreement_id):
            chain.escrow.fulfil(sender, creation.agreement_id, RESULT, CID, terms=terms)


def test_unknown_agreement_is_not_locked(chain: Chain) -> None:
    creation = buy(chain, register(chain))
    with reverts("AgreementNotLocked", status=0):
        chain.escrow.fulfil(chain.provider, keccak(b"nope"), RESULT, CID, terms=creation.terms)
    with pytest.raises(Exception, match="no AgreementCreated event"):
        chain.escrow.terms(keccak(b"nope"))


def test_fulfil_after_deadline_is_refused(chain: Chain) -> None:
    creation = buy(chain, register(chain), duration=100)
    chain.travel(101)
    with reverts("AgreementExpired", agreementId=creation.agreement_id):
        chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)


def test_terms_are_fixed_at_creation(chain: Chain) -> None:
    """Changing fee, provider, price or owner afterwards does not change who is paid what."""
    asset = register(chain)
    creation = buy(chain, asset)
    chain.escrow.set_fee(chain.deployer, 1000)
    chain.registry.set_provider(chain.owner, asset, chain.stranger.address)
    chain.registry.set_price(chain.owner, asset, 5, chain.token.address)
    chain.registry.transfer(chain.owner, asset, chain.consumer2.address)
    chain.registry.accept_ownership(chain.consumer2, asset)
    chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
    token = chain.token.address
    assert chain.escrow.withdrawable(chain.owner.address, token) == PRICE - FEE
    assert chain.escrow.withdrawable(chain.consumer2.address, token) == 0


def test_zero_fee_credits_the_payee_only(chain: Chain) -> None:
    chain.escrow.set_fee(chain.deployer, 0)
    creation = buy(chain, register(chain))
    receipt = chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
    assert event_names(chain.escrow.contract, receipt) == ["AgreementFulfilled", "Credited"]
    assert chain.escrow.withdrawable(chain.owner.address, chain.token.address) == PRICE


def test_free_asset_settles_without_credits(chain: Chain) -> None:
    creation = buy(chain, register(chain, price=0), max_price=0)
    receipt = chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
    assert event_names(chain.escrow.contract, receipt) == ["AgreementFulfilled"]


# ------------------------------------------------------------------ reject / refund


def test_reject_refunds_the_consumer(chain: Chain) -> None:
    creation = buy(chain, register(chain))
    receipt = chain.escrow.reject(chain.provider, creation.agreement_id, reason=7)
    assert event_names(chain.escrow.contract, receipt) == ["AgreementRejected", "Credited"]
    log = chain.escrow.contract.events.AgreementRejected().process_receipt(
        receipt.raw, errors=DISCARD
    )[0]
    assert log["args"]["reason"] == 7
    assert chain.escrow.status(creation.agreement_id) == AgreementStatus.REJECTED
    assert chain.escrow.withdrawable(chain.consumer.address, chain.token.address) == PRICE
    assert chain.escrow.withdrawable(chain.owner.address, chain.token.address) == 0
    with reverts("AgreementNotLocked", status=int(AgreementStatus.REJECTED)):
        chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)


def test_refund_only_after_the_deadline_and_by_anyone(chain: Chain) -> None:
    creation = buy(chain, register(chain), duration=1000)
    with reverts("AgreementNotExpired", agreementId=creation.agreement_id):
        chain.escrow.refund_expired(chain.stranger, creation.agreement_id)
    chain.travel(1001)
    receipt = chain.escrow.refund_expired(chain.stranger, creation.agreement_id)
    assert event_names(chain.escrow.contract, receipt) == ["AgreementRefunded", "Credited"]
    assert chain.escrow.status(creation.agreement_id) == AgreementStatus.REFUNDED
    assert chain.escrow.withdrawable(chain.consumer.address, chain.token.address) == PRICE
    with reverts("AgreementNotLocked", status=int(AgreementStatus.REFUNDED)):
        chain.escrow.refund_expired(chain.stranger, creation.agreement_id)


# ------------------------------------------------------------------ withdraw


def test_withdraw_erc20(chain: Chain) -> None:
    creation = buy(chain, register(chain))
    chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
    token = chain.token.address
    receipt = chain.escrow.withdraw(chain.owner, token)
    assert event_names(chain.escrow.contract, receipt) == ["Withdrawn"]
    assert chain.token.balance_of(chain.owner.address) == PRICE - FEE
    assert chain.escrow.withdrawable(chain.owner.address, token) == 0
    with reverts("NothingToWithdraw", account=chain.owner.address, token=token):
        chain.escrow.withdraw(chain.owner, token)
    chain.escrow.withdraw(chain.fee_recipient, token)
    assert chain.token.balance_of(chain.escrow.address) == 0


def test_withdraw_eth(chain: Chain) -> None:
    creation = _create(chain, register_eth(chain))
    chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
    before = chain.w3.eth.get_balance(chain.owner.address)
    receipt = chain.escrow.withdraw(chain.owner, NATIVE_TOKEN)
    spent = receipt.gas_used * receipt.raw["effectiveGasPrice"]
    assert chain.w3.eth.get_balance(chain.owner.address) == before + PRICE - FEE - spent
    chain.escrow.withdraw(chain.fee_recipient, NATIVE_TOKEN)
    assert chain.w3.eth.get_balance(chain.escrow.address) == 0
    with reverts("NothingToWithdraw"):
        chain.escrow.withdraw(chain.owner, NATIVE_TOKEN)


# ------------------------------------------------------------------ admin


def test_fee_admin(chain: Chain) -> None:
    receipt = chain.escrow.set_fee(chain.deployer, 1000)
    assert event_names(chain.escrow.contract, receipt) == ["FeeUpdated"]
    assert chain.escrow.fee_bps() == 1000
    with reverts("FeeTooHigh", feeBps=1001, maxFeeBps=1000):
        chain.escrow.set_fee(chain.deployer, 1001)
    with reverts("OwnableUnauthorizedAccount", account=chain.stranger.address):
        chain.escrow.set_fee(chain.stranger, 10)
    receipt = chain.escrow.set_fee_recipient(chain.deployer, chain.stranger.address)
    assert event_names(chain.escrow.contract, receipt) == ["FeeRecipientUpdated"]
    assert chain.escrow.fee_recipient() == chain.stranger.address
    with reverts("ZeroAddress"):
        chain.escrow.set_fee_recipient(chain.deployer, NATIVE_TOKEN)
    with reverts("OwnableUnauthorizedAccount"):
        chain.escrow.set_fee_recipient(chain.stranger, chain.stranger.address)


def test_fee_goes_to_the_recipient_at_release(chain: Chain) -> None:
    creation = buy(chain, register(chain))
    chain.escrow.set_fee_recipient(chain.deployer, chain.stranger.address)
    chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
    assert chain.escrow.withdrawable(chain.stranger.address, chain.token.address) == FEE


def test_inference_assets_sell_without_algorithm(chain: Chain) -> None:
    asset = register(chain, mode=AccessMode.INFERENCE, algorithms=())
    creation = buy(chain, asset)
    chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
    assert chain.escrow.status(creation.agreement_id) == AgreementStatus.FULFILLED


def test_created_events_index_every_agreement(chain: Chain) -> None:
    asset = register(chain)
    start = chain.w3.eth.block_number
    ids = {buy(chain, asset).agreement_id for _ in range(3)}
    events = chain.escrow.created_events(from_block=start)
    assert {e.agreement_id for e in events} == ids
