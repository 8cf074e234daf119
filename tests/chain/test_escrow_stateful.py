"""Stateful property test of the escrow's money invariants on a real chain.

Random sequences of create / fulfil / fulfil_partial / reject / refund / withdraw / time travel,
by several consumers, in an ERC-20 and in ETH. After every step: the contract's balance in each
token equals what is locked plus what is withdrawable, and the ledger matches a model; a settled
agreement never settles again; once every deadline has passed and everything is swept and
withdrawn, the contract holds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from chain_helpers import ALGO, CID, FEE_BPS, RESULT, Chain, register, register_eth, salt
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from insitu.chain import NATIVE_TOKEN, AgreementStatus, ContractRevert, Terms

# Within this many seconds of a deadline the next block may land on either side of it.
CLOCK_SLACK = 3
MAX_UINT = 2**256 - 1


@dataclass
class Tracked:
    terms: Terms
    deadline: int
    status: AgreementStatus


class EscrowMachine(RuleBasedStateMachine):
    chain: ClassVar[Chain]
    assets: ClassVar[list[bytes]]

    def __init__(self) -> None:
        super().__init__()
        self.snapshot_id = self.chain.snapshot()
        self.agreements: dict[bytes, Tracked] = {}
        self.ledger: dict[tuple[str, str], int] = {}
        c = self.chain
        self.consumers = [c.consumer, c.consumer2, c.stranger]
        self.accounts = [*self.consumers, c.owner, c.fee_recipient]
        self.tokens = [c.token.address, NATIVE_TOKEN]

    def teardown(self) -> None:
        try:
            self.ledger_matches_the_contract()
            self._sweep_everything()
        finally:
            self.chain.revert(self.snapshot_id)

    # -------------------------------------------------------------- helpers

    def _locked(self) -> list[bytes]:
        return [k for k, a in self.agreements.items() if a.status == AgreementStatus.LOCKED]

    def _settled(self) -> list[bytes]:
        return [k for k, a in self.agreements.items() if a.status != AgreementStatus.LOCKED]

    def _credit(self, account: str, token: str, amount: int) -> None:
        if amount:
            self.ledger[(account, token)] = self.ledger.get((account, token), 0) + amount

    def _side_of_deadline(self, deadline: int) -> str:
        now = self.chain.now()
        if now + CLOCK_SLACK < deadline:
            return "before"
        if now >= deadline:
            return "after"
        return "either"

    def _sweep_everything(self) -> None:
        """Expire, refund and withdraw all; then the escrow must hold nothing."""
        c = self.chain
        if self.agreements:
            latest = max(a.deadline for a in self.agreements.values())
            c.travel(max(latest - c.now(), 0) + 1)
        for key in self._locked():
            c.escrow.refund_expired(c.relayer, key, self.agreements[key].terms)
            self._settle(key, AgreementStatus.REFUNDED)
        for account in self.accounts:
            for token in self.tokens:
                if c.escrow.withdrawable(account.address, token):
                    c.escrow.withdraw(account, token)
        assert c.token.balance_of(c.escrow.address) == 0
        assert c.w3.eth.get_balance(c.escrow.address) == 0

    def _settle(self, key: bytes, status: AgreementStatus, payout: int | None = None) -> None:
        tracked = self.agreements[key]
        terms = tracked.terms
        if status == AgreementStatus.FULFILLED:
            paid = terms.amount if payout is None else payout
            fee = terms.fee * paid // terms.amount if terms.amount else 0
            self._credit(terms.payee, terms.token, paid - fee)
            self._credit(self.chain.fee_recipient.address, terms.token, fee)
            self._credit(terms.consumer, terms.token, terms.amount - paid)
        else:
            self._credit(terms.consumer, terms.token, terms.amount)
        tracked.status = status

    # -------------------------------------------------------------- rules

    @rule(who=st.integers(0, 2), asset=st.integers(0, 2), duration=st.integers(5, 4000))
    def create(self, who: int, asset: int, duration: int) -> None:
        c = self.chain
        consumer = self.consumers[who]
        creation = c.escrow.create(
            consumer,
            self.assets[asset],
            salt(),
            max_price=MAX_UINT,
            deadline=c.now() + duration,
            algorithm_hash=ALGO,
        )
        assert creation.terms.fee == creation.terms.amount * FEE_BPS // 10_000
        deadline = c.escrow.get(creation.agreement_id).deadline
        self.agreements[creation.agreement_id] = Tracked(
            creation.terms, deadline, AgreementStatus.LOCKED
        )

    @precondition(lambda self: self._locked())
    @rule(data=st.data())
    def fulfil(self, data: Any) -> None:
        key = data.draw(st.sampled_from(self._locked()))
        tracked = self.agreements[key]
        side = self._side_of_deadline(tracked.deadline)
        try:
            self.chain.escrow.fulfil(self.chain.provider, key, RESULT, CID, tracked.terms)
        except ContractRevert as exc:
            assert side != "before" and exc.error == "AgreementExpired", exc
            return
        assert side != "after"
        self._settle(key, AgreementStatus.FULFILLED)

    @precondition(lambda self: self._locked())
    @rule(data=st.data(), share=st.fractions(0, 1))
    def fulfil_partial(self, data: Any, share: Any) -> None:
        key = data.draw(st.sampled_from(self._locked()))
        tracked = self.agreements[key]
        payout = int(tracked.terms.amount * share)
        side = self._side_of_deadline(tracked.deadline)
        try:
            self.chain.escrow.fulfil_partial(
                self.chain.provider, key, RESULT, CID, payout, tracked.terms
            )
        except ContractRevert as exc:
            assert side != "before" and exc.error == "AgreementExpired", exc
            return
        assert side != "after"
        self._settle(key, AgreementStatus.FULFILLED, payout)

    @precondition(lambda self: self._locked())
    @rule(data=st.data(), reason=st.integers(0, 2**16 - 1))
    def reject(self, data: Any, reason: int) -> None:
        key = data.draw(st.sampled_from(self._locked()))
        self.chain.escrow.reject(self.chain.provider, key, reason, self.agreements[key].terms)
        self._settle(key, AgreementStatus.REJECTED)

    @precondition(lambda self: self._locked())
    @rule(data=st.data())
    def refund(self, data: Any) -> None:
        key = data.draw(st.sampled_from(self._locked()))
        tracked = self.agreements[key]
        side = self._side_of_deadline(tracked.deadline)
        try:
            self.chain.escrow.refund_expired(self.chain.stranger, key, tracked.terms)
        except ContractRevert as exc:
            assert side != "after" and exc.error == "AgreementNotExpired", exc
            return
        assert side != "before"
        self._settle(key, AgreementStatus.REFUNDED)

    @precondition(lambda self: self._settled())
    @rule(data=st.data(), action=st.sampled_from(["fulfil", "reject", "refund"]))
    def settle_again(self, data: Any, action: str) -> None:
        key = data.draw(st.sampled_from(self._settled()))
        tracked = self.agreements[key]
        escrow, provider = self.chain.escrow, self.chain.provider
        with pytest.raises(ContractRevert) as info:
            if action == "fulfil":
                escrow.fulfil(provider, key, RESULT, CID, tracked.terms)
            elif action == "reject":
                escrow.reject(provider, key, 0, tracked.terms)
            else:
                escrow.refund_expired(provider, key, tracked.terms)
        assert info.value.error == "AgreementNotLocked"
        assert escrow.status(key) == tracked.status

    @rule(who=st.integers(0, 4), native=st.booleans())
    def withdraw(self, who: int, native: bool) -> None:
        account = self.accounts[who]
        token = NATIVE_TOKEN if native else self.chain.token.address
        owed = self.ledger.get((account.address, token), 0)
        if owed == 0:
            with pytest.raises(ContractRevert) as info:
                self.chain.escrow.withdraw(account, token)
            assert info.value.error == "NothingToWithdraw"
            return
        assert self.chain.escrow.withdrawable(account.address, token) == owed
        before = self.chain.token.balance_of(account.address)
        self.chain.escrow.withdraw(account, token)
        if not native:
            assert self.chain.token.balance_of(account.address) == before + owed
        self.ledger[(account.address, token)] = 0

    @rule(seconds=st.integers(1, 3000))
    def time_travel(self, seconds: int) -> None:
        self.chain.travel(seconds)

    # -------------------------------------------------------------- invariants

    @invariant()
    def balance_is_locked_plus_withdrawable(self) -> None:
        c = self.chain
        for token in self.tokens:
            locked = sum(
                a.terms.amount
                for a in self.agreements.values()
                if a.status == AgreementStatus.LOCKED and a.terms.token == token
            )
            owed = sum(v for (_, t), v in self.ledger.items() if t == token)
            held = (
                c.w3.eth.get_balance(c.escrow.address)
                if token == NATIVE_TOKEN
                else c.token.balance_of(c.escrow.address)
            )
            assert held == locked + owed, (token, held, locked, owed)

    def ledger_matches_the_contract(self) -> None:
        # Checked once per example rather than after every step: ten reads per step would
        # triple the run time, and every step's money is already checked by the invariant above.
        for account in self.accounts:
            for token in self.tokens:
                expected = self.ledger.get((account.address, token), 0)
                assert self.chain.escrow.withdrawable(account.address, token) == expected


def test_escrow_money_invariants(chain: Chain) -> None:
    for consumer in (chain.consumer, chain.consumer2, chain.stranger):
        if consumer is chain.stranger:
            chain.token.mint(chain.deployer, consumer.address, 10**24)
        chain.token.approve(consumer, chain.escrow.address, MAX_UINT)
    # Odd prices make the fee round; three assets: two ERC-20, one ETH.
    EscrowMachine.chain = chain
    EscrowMachine.assets = [
        register(chain, price=10**18 + 7),
        register(chain, price=333),
        register_eth(chain, price=10**15 + 3),
    ]
    run_state_machine_as_test(
        EscrowMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
