"""Stateful property test of FederatedSession's money invariants on a real chain.

Random sequences of create / accept / start / cancel / update / aggregate / finalize /
challenge / resolve / expire / claim / withdraw / time travel, by two data scientists, in an
ERC-20 and in ETH. After every step: the contract's balance in each token equals what live
sessions hold plus what is withdrawable, each session's on-chain `held` matches the model, and
an ended session paid out exactly what it escrowed. Once everything is driven to its end and
withdrawn, the contract holds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from chain_helpers import Chain
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from session_helpers import CID, MAX_UINT, Federation, salt, setup_federation

from insitu.chain import NATIVE_TOKEN, ContractRevert
from insitu.chain.session import Participant, SessionStatus

# Within this many seconds of a deadline the next block may land on either side of it.
CLOCK_SLACK = 3
WINDOW = 3600
RESOLUTION = 7 * 24 * 3600
POOLS = st.sampled_from([0, 1, 10**18 + 7, 3 * 10**19])
ACCEPT_IN = st.integers(600, 3000)
RUN_FOR = st.integers(2000, 8000)
ENDED = {SessionStatus.SETTLED, SessionStatus.CANCELLED, SessionStatus.EXPIRED}


@dataclass
class Tracked:
    creator: LocalAccount
    token: str
    participants: tuple[Participant, ...]
    pool: int
    rounds: int
    minimum: int
    accept_deadline: int
    session_deadline: int
    held: int
    total: int
    status: SessionStatus = SessionStatus.OPEN
    accepted: set[int] = field(default_factory=set)
    committed: set[int] = field(default_factory=set)
    round_mask: set[int] = field(default_factory=set)
    round: int = 0
    scores: tuple[int, ...] = ()
    window_end: int = 0
    claimed: set[int] = field(default_factory=set)
    remainder: bool = False
    paid: int = 0


class SessionMachine(RuleBasedStateMachine):
    fed: ClassVar[Federation]

    def __init__(self) -> None:
        super().__init__()
        c = self.fed.chain
        self.snapshot_id = c.snapshot()
        self.sessions: dict[bytes, Tracked] = {}
        self.ledger: dict[tuple[str, str], int] = {}
        self.creators = [self.fed.scientist, c.consumer2]
        self.accounts = [*self.fed.owners, *self.creators]
        self.tokens = [self.fed.token, NATIVE_TOKEN]

    def teardown(self) -> None:
        try:
            self._drive_everything_to_the_end()
        finally:
            self.fed.chain.revert(self.snapshot_id)

    # -------------------------------------------------------------- helpers

    def _with(self, *statuses: SessionStatus) -> list[bytes]:
        return [k for k, t in self.sessions.items() if t.status in statuses]

    def _side(self, deadline: int) -> str:
        """Whether the next block's timestamp is surely <= deadline, surely > it, or unknown."""
        now = self.fed.chain.now()
        if now + CLOCK_SLACK <= deadline:
            return "before"
        if now > deadline:
            return "after"
        return "either"

    def _credit(self, t: Tracked, account: str, amount: int) -> None:
        if amount:
            key = (account, t.token)
            self.ledger[key] = self.ledger.get(key, 0) + amount
            t.held -= amount
            t.paid += amount

    def _provider(self, t: Tracked, i: int) -> LocalAccount:
        owners = [o.address for o in self.fed.owners]
        return self.fed.providers[owners.index(t.participants[i].payee)]

    def _claimable(self, t: Tracked) -> str:
        if t.status == SessionStatus.CONFIRMED:
            return "after"
        if t.status == SessionStatus.FINALIZED:
            return self._side(t.window_end)
        return "before"

    def _share(self, t: Tracked, i: int) -> int:
        total = sum(t.scores)
        return t.pool * t.scores[i] // total if total else 0

    def _drive_everything_to_the_end(self) -> None:
        """Expire, claim and withdraw everything; then the contract must hold nothing."""
        fed, c = self.fed, self.fed.chain
        c.travel(RESOLUTION + 3 * WINDOW + 24 * 3600)
        s = fed.sessions
        for key, t in self.sessions.items():
            if t.status in (SessionStatus.OPEN, SessionStatus.RUNNING, SessionStatus.DISPUTED):
                s.expire(c.stranger, key)
                self._expired(t)
            if t.status in (SessionStatus.FINALIZED, SessionStatus.CONFIRMED):
                for i in sorted(t.committed - t.claimed):
                    s.claim(c.stranger, key, i, t.scores)
                    self._claimed(t, i)
                if not t.remainder:
                    s.claim_remainder(c.stranger, key, t.scores)
                    self._remainder(t)
            assert t.status in ENDED and t.held == 0 and t.paid == t.total, t
            assert s.get(key).status == t.status
        self.balances_match()
        for account in self.accounts:
            for token in self.tokens:
                owed = self.ledger.get((account.address, token), 0)
                assert s.withdrawable(account.address, token) == owed
                if owed:
                    s.withdraw(account, token)
        assert fed.balance() == 0
        assert fed.balance(NATIVE_TOKEN) == 0

    def _expired(self, t: Tracked) -> None:
        for i in sorted(t.committed):
            self._credit(t, t.participants[i].payee, t.participants[i].price)
        self._credit(t, t.creator.address, t.held)
        t.status = SessionStatus.EXPIRED

    def _claimed(self, t: Tracked, i: int) -> None:
        self._credit(t, t.participants[i].payee, t.participants[i].price + self._share(t, i))
        t.claimed.add(i)
        self._maybe_settled(t)

    def _remainder(self, t: Tracked) -> None:
        amount = t.pool - sum(self._share(t, i) for i in range(len(t.participants)))
        amount += sum(p.price for i, p in enumerate(t.participants) if i not in t.committed)
        self._credit(t, t.creator.address, amount)
        t.remainder = True
        self._maybe_settled(t)

    def _maybe_settled(self, t: Tracked) -> None:
        if t.remainder and t.claimed == t.committed:
            t.status = SessionStatus.SETTLED

    def _expect(self, side: str, call: Any, error: str) -> bool:
        """Run ``call``: it must succeed 'before' and revert with ``error`` 'after'."""
        try:
            call()
        except ContractRevert as exc:
            assert side != "before" and exc.error == error, (side, exc)
            return False
        assert side != "after", f"expected {error}"
        return True

    # -------------------------------------------------------------- rules

    @initialize(
        creator=st.integers(0, 1),
        native=st.booleans(),
        pick=st.sets(st.integers(0, 3), min_size=2),
        minimum=st.integers(1, 3),
        rounds=st.integers(1, 2),
        pool=POOLS,
        accept_in=ACCEPT_IN,
        run_for=RUN_FOR,
    )
    def first_session(
        self,
        creator: int,
        native: bool,
        pick: set[int],
        minimum: int,
        rounds: int,
        pool: int,
        accept_in: int,
        run_for: int,
    ) -> None:
        self.create(creator, native, pick, minimum, rounds, pool, accept_in, run_for)

    @rule(
        creator=st.integers(0, 1),
        native=st.booleans(),
        pick=st.sets(st.integers(0, 3), min_size=2),
        minimum=st.integers(1, 3),
        rounds=st.integers(1, 2),
        pool=POOLS,
        accept_in=ACCEPT_IN,
        run_for=RUN_FOR,
    )
    def create(
        self,
        creator: int,
        native: bool,
        pick: set[int],
        minimum: int,
        rounds: int,
        pool: int,
        accept_in: int,
        run_for: int,
    ) -> None:
        fed, now = self.fed, self.fed.chain.now()
        assets = list(fed.eth_assets) if native else [fed.assets[i] for i in sorted(pick)]
        minimum = min(minimum, len(assets))
        token = NATIVE_TOKEN if native else fed.token
        who = self.creators[creator]
        creation = fed.sessions.create(
            who,
            salt(),
            assets,
            algorithm_hash=keccak(b"algorithm: federated logistic regression v1"),
            rounds=rounds,
            min_participants=minimum,
            accept_deadline=now + accept_in,
            session_deadline=now + accept_in + run_for,
            reward_pool=pool,
            coordinator=fed.coordinator.address,
            token=token,
            challenge_window=WINDOW,
        )
        state = fed.sessions.get(creation.session_id)
        total = sum(p.price for p in creation.participants) + pool
        assert state.held == total
        self.sessions[creation.session_id] = Tracked(
            creator=who,
            token=token,
            participants=creation.participants,
            pool=pool,
            rounds=rounds,
            minimum=minimum,
            accept_deadline=state.accept_deadline,
            session_deadline=state.session_deadline,
            held=total,
            total=total,
        )

    @precondition(lambda self: self._with(SessionStatus.OPEN))
    @rule(data=st.data())
    def accept(self, data: Any, key: bytes | None = None, everyone: bool = False) -> None:
        key = key or data.draw(st.sampled_from(self._with(SessionStatus.OPEN)))
        t = self.sessions[key]
        free = [i for i in range(len(t.participants)) if i not in t.accepted]
        if not everyone:
            free = data.draw(st.lists(st.sampled_from(free), unique=True)) if free else []
        for i in free:
            provider = self._provider(t, i)

            def call(provider: LocalAccount = provider, i: int = i) -> None:
                self.fed.sessions.accept(provider, key, i)

            if self._expect(self._side(t.accept_deadline), call, "AcceptClosed"):
                t.accepted.add(i)

    @precondition(lambda self: self._with(SessionStatus.OPEN))
    @rule(data=st.data())
    def start(self, data: Any, key: bytes | None = None) -> None:
        key = key or data.draw(st.sampled_from(self._with(SessionStatus.OPEN)))
        t = self.sessions[key]
        if len(t.accepted) < t.minimum:
            with pytest.raises(ContractRevert, match=r"NotEnoughAccepted|SessionDeadlinePassed"):
                self.fed.sessions.start(t.creator, key)
            return
        call = lambda: self.fed.sessions.start(self.fed.coordinator, key)  # noqa: E731
        if self._expect(self._side(t.session_deadline), call, "SessionDeadlinePassed"):
            t.status = SessionStatus.RUNNING

    @precondition(lambda self: self._with(SessionStatus.OPEN))
    @rule(data=st.data(), by_creator=st.booleans())
    def cancel(self, data: Any, by_creator: bool, key: bytes | None = None) -> None:
        key = key or data.draw(st.sampled_from(self._with(SessionStatus.OPEN)))
        t = self.sessions[key]
        s, stranger = self.fed.sessions, self.fed.chain.stranger
        if by_creator:
            s.cancel(t.creator, key)
        else:
            side = "before" if len(t.accepted) >= t.minimum else self._side(t.accept_deadline)
            # Success needs the deadline passed: flip the sides of _expect.
            flipped = {"before": "after", "after": "before", "either": "either"}[side]
            if not self._expect(flipped, lambda: s.cancel(stranger, key), "CannotCancel"):
                return
        self._credit(t, t.creator.address, t.held)
        t.status = SessionStatus.CANCELLED

    @precondition(lambda self: self._with(SessionStatus.RUNNING))
    @rule(data=st.data(), aggregate=st.booleans())
    def play_round(
        self, data: Any, aggregate: bool, key: bytes | None = None, everyone: bool = False
    ) -> None:
        """Some participants commit updates; then the coordinator may close the round."""
        key = key or data.draw(st.sampled_from(self._with(SessionStatus.RUNNING)))
        t = self.sessions[key]
        if t.round >= t.rounds:
            return
        s = self.fed.sessions
        ready = sorted(t.accepted - t.round_mask)
        if everyone and ready:
            # All but (sometimes) one straggler, who is then absent from this round.
            ready = ready[: len(ready) - data.draw(st.integers(0, 1))]
        elif ready:
            ready = data.draw(st.lists(st.sampled_from(ready), unique=True))
        for i in ready:
            provider = self._provider(t, i)

            def update(provider: LocalAccount = provider, i: int = i) -> None:
                s.commit_update(provider, key, t.round, i, keccak(b"u"), CID)

            if self._expect(self._side(t.session_deadline), update, "SessionDeadlinePassed"):
                t.round_mask.add(i)
                t.committed.add(i)
        if not aggregate:
            return
        coordinator = self.fed.coordinator

        def close() -> None:
            s.commit_aggregate(coordinator, key, t.round, keccak(b"a"), CID, included=t.round_mask)

        if len(t.round_mask) < t.minimum:
            with pytest.raises(ContractRevert, match=r"NotEnoughUpdates|SessionDeadlinePassed"):
                close()
        elif self._expect(self._side(t.session_deadline), close, "SessionDeadlinePassed"):
            t.round += 1
            t.round_mask = set()

    @precondition(lambda self: self._with(SessionStatus.RUNNING))
    @rule(data=st.data())
    def finalize(self, data: Any, key: bytes | None = None) -> None:
        key = key or data.draw(st.sampled_from(self._with(SessionStatus.RUNNING)))
        t = self.sessions[key]
        if t.round < t.rounds:
            return
        scores = tuple(
            data.draw(st.integers(0, 7)) if i in t.committed else 0
            for i in range(len(t.participants))
        )
        s = self.fed.sessions

        def call() -> None:
            s.finalize(
                self.fed.coordinator, key, scores, model_hash=keccak(b"m"), model_cid=CID,
                report_hash=keccak(b"r"), report_cid=CID,
            )  # fmt: skip

        if self._expect(self._side(t.session_deadline), call, "SessionDeadlinePassed"):
            t.status = SessionStatus.FINALIZED
            t.scores = scores
            t.window_end = s.get(key).window_end

    @precondition(lambda self: self._with(SessionStatus.FINALIZED))
    @rule(data=st.data())
    def challenge(self, data: Any, key: bytes | None = None) -> None:
        key = key or data.draw(st.sampled_from(self._with(SessionStatus.FINALIZED)))
        t = self.sessions[key]
        s, stranger = self.fed.sessions, self.fed.chain.stranger
        call = lambda: s.challenge(stranger, key, keccak(b"e"), CID)  # noqa: E731
        if self._expect(self._side(t.window_end), call, "ChallengeWindowClosed"):
            t.status = SessionStatus.DISPUTED
            t.window_end = s.get(key).window_end

    @precondition(lambda self: self._with(SessionStatus.DISPUTED))
    @rule(data=st.data(), upheld=st.booleans())
    def resolve(self, data: Any, upheld: bool, key: bytes | None = None) -> None:
        key = key or data.draw(st.sampled_from(self._with(SessionStatus.DISPUTED)))
        t = self.sessions[key]
        call = lambda: self.fed.sessions.resolve(self.fed.arbiter, key, upheld)  # noqa: E731
        if self._expect(self._side(t.window_end), call, "ChallengeWindowClosed"):
            t.status = SessionStatus.RUNNING if upheld else SessionStatus.CONFIRMED

    @precondition(
        lambda self: self._with(SessionStatus.OPEN, SessionStatus.RUNNING, SessionStatus.DISPUTED)
    )
    @rule(data=st.data())
    def expire(self, data: Any, key: bytes | None = None) -> None:
        live = self._with(SessionStatus.OPEN, SessionStatus.RUNNING, SessionStatus.DISPUTED)
        key = key or data.draw(st.sampled_from(live))
        t = self.sessions[key]
        deadline = t.window_end if t.status == SessionStatus.DISPUTED else t.session_deadline
        flipped = {"before": "after", "after": "before", "either": "either"}[self._side(deadline)]
        stranger = self.fed.chain.stranger
        call = lambda: self.fed.sessions.expire(stranger, key)  # noqa: E731
        if self._expect(flipped, call, "SessionNotExpired"):
            self._expired(t)

    @precondition(lambda self: self._with(SessionStatus.FINALIZED, SessionStatus.CONFIRMED))
    @rule(data=st.data())
    def claim(self, data: Any, key: bytes | None = None) -> None:
        """Claim for one participant, or the remainder (index n), or all of them at once."""
        key = key or data.draw(
            st.sampled_from(self._with(SessionStatus.FINALIZED, SessionStatus.CONFIRMED))
        )
        t = self.sessions[key]
        n = len(t.participants)
        picks = data.draw(st.one_of(st.just(list(range(n + 1))), st.lists(st.integers(0, n))))
        for i in picks:
            self._claim_one(key, t, i)

    def _claim_one(self, key: bytes, t: Tracked, i: int) -> None:
        s, stranger = self.fed.sessions, self.fed.chain.stranger
        remainder = i == len(t.participants)
        try:
            if remainder:
                s.claim_remainder(stranger, key, t.scores)
            else:
                s.claim(stranger, key, i, t.scores)
        except ContractRevert as exc:
            if exc.error == "NotClaimable":
                assert self._claimable(t) != "after", exc
            elif t.remainder if remainder else i in t.claimed:
                assert exc.error == "AlreadyClaimed", exc
            else:
                assert exc.error == "NothingToClaim" and i not in t.committed, exc
            return
        assert self._claimable(t) != "before", "claimed before the window ended"
        if remainder:
            assert not t.remainder, "remainder paid twice"
            self._remainder(t)
        else:
            assert i in t.committed and i not in t.claimed, "participant paid twice"
            self._claimed(t, i)

    @precondition(lambda self: [k for k, t in self.sessions.items() if t.status not in ENDED])
    @rule(data=st.data())
    def advance(self, data: Any) -> None:
        """Take a live session one natural step further (random steps alone rarely get far)."""
        key = data.draw(
            st.sampled_from([k for k, t in self.sessions.items() if t.status not in ENDED])
        )
        t = self.sessions[key]
        if t.status == SessionStatus.OPEN:
            if len(t.accepted) < len(t.participants):
                self.accept(data, key=key, everyone=True)
            if self.sessions[key].status == SessionStatus.OPEN:
                self.start(data, key=key)
        elif t.status == SessionStatus.RUNNING:
            if t.round < t.rounds:
                self.play_round(data, aggregate=True, key=key, everyone=True)
            else:
                self.finalize(data, key=key)
        elif t.status == SessionStatus.DISPUTED:
            self.resolve(data, upheld=data.draw(st.booleans()), key=key)
        else:
            if t.status == SessionStatus.FINALIZED and data.draw(st.booleans()):
                self.time_travel(WINDOW + 1)
            self.claim(data, key=key)

    @rule(who=st.integers(0, 5), native=st.booleans())
    def withdraw(self, who: int, native: bool) -> None:
        account = self.accounts[who]
        token = NATIVE_TOKEN if native else self.fed.token
        owed = self.ledger.get((account.address, token), 0)
        s = self.fed.sessions
        if owed == 0:
            with pytest.raises(ContractRevert, match="NothingToWithdraw"):
                s.withdraw(account, token)
            return
        assert s.withdrawable(account.address, token) == owed
        s.withdraw(account, token)
        self.ledger[(account.address, token)] = 0

    @rule(seconds=st.one_of(st.integers(1, 1500), st.integers(3000, 9000)))
    def time_travel(self, seconds: int) -> None:
        self.fed.chain.travel(seconds)

    # -------------------------------------------------------------- invariants

    @invariant()
    def balances_match(self) -> None:
        for token in self.tokens:
            held = sum(t.held for t in self.sessions.values() if t.token == token)
            owed = sum(v for (_, tk), v in self.ledger.items() if tk == token)
            assert self.fed.balance(token) == held + owed, (token, held, owed)

    @invariant()
    def sessions_hold_what_the_model_says(self) -> None:
        for key, t in self.sessions.items():
            state = self.fed.sessions.get(key)
            assert state.held == t.held and state.status == t.status, (state, t)
            assert state.claimed == sorted(t.claimed)
            if t.status in ENDED:
                assert t.held == 0 and t.paid == t.total


def test_session_money_invariants(chain: Chain) -> None:
    fed = setup_federation(chain)
    chain.token.approve(chain.consumer2, fed.sessions.address, MAX_UINT)
    SessionMachine.fed = fed
    run_state_machine_as_test(
        SessionMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
