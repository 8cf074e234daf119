"""AgreementEscrow.fulfilPartial: metered payouts (per-row inference), every path and revert."""

from __future__ import annotations

from dataclasses import replace

import pytest
from chain_helpers import (
    CID,
    FEE_BPS,
    PRICE,
    RESULT,
    Chain,
    buy,
    event_names,
    register,
    register_eth,
    reverts,
)
from web3.logs import DISCARD

from insitu.chain import AgreementStatus
from insitu.chain.ids import commitment

FEE = PRICE * FEE_BPS // 10_000


def _balances(chain: Chain, token: str) -> tuple[int, int, int]:
    e = chain.escrow
    return (
        e.withdrawable(chain.owner.address, token),
        e.withdrawable(chain.fee_recipient.address, token),
        e.withdrawable(chain.consumer.address, token),
    )


@pytest.mark.parametrize("payout", [PRICE * 3 // 10, 1, PRICE - 1])
def test_partial_payout_splits_fee_pro_rata_and_refunds_the_rest(chain: Chain, payout: int) -> None:
    asset = register(chain)
    creation = buy(chain, asset)
    receipt = chain.escrow.fulfil_partial(
        chain.provider, creation.agreement_id, RESULT, CID, payout, creation.terms
    )
    fee = FEE * payout // PRICE
    assert _balances(chain, chain.token.address) == (payout - fee, fee, PRICE - payout)
    stored = chain.escrow.get(creation.agreement_id)
    assert stored.status == AgreementStatus.FULFILLED
    assert stored.commitment == commitment(RESULT)
    names = event_names(chain.escrow.contract, receipt)
    assert names[:2] == ["AgreementFulfilled", "AgreementPartiallyRefunded"]
    assert names.count("Credited") == (3 if fee else 2)
    refunded = chain.escrow.contract.events.AgreementPartiallyRefunded().process_receipt(
        receipt.raw, errors=DISCARD
    )
    assert refunded[0]["args"]["refund"] == PRICE - payout
    assert bytes(refunded[0]["args"]["agreementId"]) == creation.agreement_id


def test_full_payout_equals_fulfil(chain: Chain) -> None:
    asset = register(chain)
    creation = buy(chain, asset)
    receipt = chain.escrow.fulfil_partial(
        chain.provider, creation.agreement_id, RESULT, CID, PRICE, creation.terms
    )
    assert _balances(chain, chain.token.address) == (PRICE - FEE, FEE, 0)
    assert "AgreementPartiallyRefunded" not in event_names(chain.escrow.contract, receipt)


def test_zero_payout_refunds_everything_but_records_delivery(chain: Chain) -> None:
    asset = register(chain)
    creation = buy(chain, asset)
    chain.escrow.fulfil_partial(chain.provider, creation.agreement_id, RESULT, CID, 0)
    assert _balances(chain, chain.token.address) == (0, 0, PRICE)
    assert chain.escrow.status(creation.agreement_id) == AgreementStatus.FULFILLED


def test_partial_in_eth_and_withdraw(chain: Chain) -> None:
    price = 10**15 + 3
    asset = register_eth(chain, price=price)
    creation = buy(chain, asset, max_price=price)
    payout = price // 3
    chain.escrow.fulfil_partial(chain.provider, creation.agreement_id, RESULT, CID, payout)
    fee = (price * FEE_BPS // 10_000) * payout // price
    assert _balances(chain, creation.terms.token) == (payout - fee, fee, price - payout)
    before = chain.w3.eth.get_balance(chain.consumer.address)
    receipt = chain.escrow.withdraw(chain.consumer, creation.terms.token)
    gas = receipt.raw["gasUsed"] * receipt.raw["effectiveGasPrice"]
    assert chain.w3.eth.get_balance(chain.consumer.address) == before + price - payout - gas
    assert chain.w3.eth.get_balance(chain.escrow.address) == payout


def test_payout_above_amount_reverts(chain: Chain) -> None:
    asset = register(chain)
    creation = buy(chain, asset)
    with reverts("PayoutAboveAmount", payout=PRICE + 1, amount=PRICE) as info:
        chain.escrow.fulfil_partial(chain.provider, creation.agreement_id, RESULT, CID, PRICE + 1)
    assert "pay out at most" in str(info.value)
    assert chain.escrow.status(creation.agreement_id) == AgreementStatus.LOCKED


def test_only_provider(chain: Chain) -> None:
    creation = buy(chain, register(chain))
    with reverts("NotProvider", caller=chain.consumer.address):
        chain.escrow.fulfil_partial(chain.consumer, creation.agreement_id, RESULT, CID, 1)


def test_after_deadline_reverts_and_refund_still_works(chain: Chain) -> None:
    creation = buy(chain, register(chain), duration=100)
    chain.travel(200)
    with reverts("AgreementExpired"):
        chain.escrow.fulfil_partial(chain.provider, creation.agreement_id, RESULT, CID, 1)
    chain.escrow.refund_expired(chain.stranger, creation.agreement_id)
    assert _balances(chain, chain.token.address) == (0, 0, PRICE)


def test_settles_once_and_checks_terms(chain: Chain) -> None:
    creation = buy(chain, register(chain))
    forged = replace(creation.terms, amount=PRICE * 2)
    with reverts("TermsMismatch"):
        chain.escrow.fulfil_partial(chain.provider, creation.agreement_id, RESULT, CID, 1, forged)
    chain.escrow.fulfil_partial(chain.provider, creation.agreement_id, RESULT, CID, 1)
    with reverts("AgreementNotLocked"):
        chain.escrow.fulfil_partial(chain.provider, creation.agreement_id, RESULT, CID, 1)
    with reverts("AgreementNotLocked"):
        chain.escrow.fulfil(chain.provider, creation.agreement_id, RESULT, CID)
