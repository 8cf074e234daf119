"""The orchestration logic on a real chain, driven in-process (no Celery): rounds, dropouts,
re-deliveries, the report's hash on-chain and the money."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from eth_utils import keccak
from fl_harness import POOL, PRICE, FLEnv

from insitu.chain.session import SessionStatus
from insitu.federated.valuation import ValuationReport
from insitu.fl.coordinator import Coordinator, Decision, decide_round
from insitu.fl.documents import SessionConfig, UpdateDoc, fetch, load_template
from insitu.fl.errors import TemplateMismatch
from insitu.fl.participant import Outcome, accept_session, participate
from insitu.fl.sdk import claim_all


class FakeClock:
    """A clock the test moves by hand, so the round timeout needs no real waiting."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def coordinator(env: FLEnv, clock: FakeClock | None = None) -> Coordinator:
    c = Coordinator(
        env.sessions, env.store, env.coordinator, pd.read_csv(env.validation_csv),
        poll_interval=1.0,
    )  # fmt: skip
    if clock is not None:
        c.clock, c.sleep = clock, clock.sleep
    return c


def started(env: FLEnv, config: SessionConfig) -> bytes:
    sid = env.create(config).session_id
    for i in range(3):
        assert accept_session(env.bank(i), sid) == {i: Outcome.ACCEPTED}
    env.sessions.start(env.scientist, sid)
    return sid


# ------------------------------------------------------------------ pure logic


@pytest.mark.parametrize(
    ("answered", "elapsed", "expected"),
    [
        ([0, 1, 2], 0.0, Decision.CLOSE),  # everyone answered: no need to wait
        ([0, 1], 5.0, Decision.WAIT),  # before the timeout: wait for the third
        ([0, 1], 10.0, Decision.CLOSE),  # at the timeout with >= minimum: drop the third
        ([0], 50.0, Decision.WAIT),  # below the minimum: keep waiting past the timeout
        ([], 50.0, Decision.WAIT),
    ],
)
def test_decide_round(answered: list[int], elapsed: float, expected: Decision) -> None:
    assert decide_round([0, 1, 2], answered, 2, elapsed, 10.0) is expected


def test_documents_round_trip_exactly() -> None:
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(1, 7)), rng.normal(size=1)]
    doc = UpdateDoc("0xab", 3, 1, 1234, params=params, metrics={"loss": 0.25})
    back = UpdateDoc.from_bytes(doc.to_bytes())
    assert all(np.array_equal(a, b) for a, b in zip(back.params, params, strict=True))
    assert back.to_bytes() == doc.to_bytes()  # canonical: same bytes, same hash


def test_template_loads_only_with_the_approved_hash(fl_env: FLEnv) -> None:
    data = fetch(fl_env.store, fl_env.template_cid)
    assert load_template(data, fl_env.algorithm) is not None
    with pytest.raises(TemplateMismatch, match="refusing to load"):
        load_template(data + b"\x00", fl_env.algorithm)


# ------------------------------------------------------------------ on a real chain


def test_round_with_a_dropped_participant_who_comes_back(fl_env: FLEnv) -> None:
    env = fl_env
    clock = FakeClock()
    coord = coordinator(env, clock)
    sid = started(env, env.config(round_timeout=10.0))
    # Statistics round: everyone.
    for i in range(3):
        assert participate(env.bank(i), sid, 0) == {i: Outcome.COMMITTED}
    assert coord.run_round(sid, 0, opened_at=clock()).startswith("aggregated 3")
    # Round 1: bank 2 is down; the round closes at its timeout with banks 0 and 1.
    for i in (0, 1):
        participate(env.bank(i), sid, 1)
    opened = clock()
    assert coord.run_round(sid, 1, opened_at=opened) == "aggregated 2 update(s)"
    assert clock() - opened >= 10.0
    agg = env.sessions.events("AggregateCommitted", sid)[-1]["args"]
    assert agg["round"] == 1 and agg["includedMask"] == 0b011
    # Bank 2's worker comes back: its task for round 1 is late, it takes part in round 2.
    assert participate(env.bank(2), sid, 1) == {2: Outcome.LATE}
    for i in range(3):
        assert participate(env.bank(i), sid, 2) == {i: Outcome.COMMITTED}
    assert coord.run_round(sid, 2, opened_at=clock()) == "aggregated 3 update(s)"
    assert coord.finalize(sid).startswith("finalized (exact")
    report = ValuationReport.from_json(
        fetch(env.store, env.sessions.finalization(sid).report_cid).decode()
    )
    assert report.settings["session"] == "0x" + sid.hex()


def test_an_update_landing_after_the_aggregation_is_aggregated_too(fl_env: FLEnv) -> None:
    env = fl_env
    clock = FakeClock()
    coord = coordinator(env, clock)
    sid = started(env, env.config(round_timeout=10.0))
    for i in (0, 1):
        participate(env.bank(i), sid, 0)
    aggregate = coord.aggregate
    seen: list[list[int]] = []

    def aggregate_then_bank_2_commits(view, chain_round, included):  # type: ignore[no-untyped-def]
        seen.append(list(included))
        doc = aggregate(view, chain_round, included)
        if len(seen) == 1:  # bank 2 commits between our aggregation and our transaction
            assert participate(env.bank(2), sid, 0) == {2: Outcome.COMMITTED}
        return doc

    coord.aggregate = aggregate_then_bank_2_commits  # type: ignore[method-assign]
    assert coord.run_round(sid, 0, opened_at=clock() - 10.0) == "aggregated 3 update(s)"
    assert seen == [[0, 1], [0, 1, 2]]
    agg = env.sessions.events("AggregateCommitted", sid)[-1]["args"]
    assert agg["includedMask"] == 0b111


def test_redelivered_tasks_do_nothing_twice(fl_env: FLEnv) -> None:
    env = fl_env
    sid = env.create(env.config()).session_id
    assert accept_session(env.bank(0), sid) == {0: Outcome.ACCEPTED}
    assert accept_session(env.bank(0), sid) == {0: Outcome.ALREADY}
    for i in (1, 2):
        accept_session(env.bank(i), sid)
    env.sessions.start(env.scientist, sid)
    assert participate(env.bank(0), sid, 0) == {0: Outcome.COMMITTED}
    assert participate(env.bank(0), sid, 0) == {0: Outcome.ALREADY}
    assert len(env.sessions.events("UpdateCommitted", sid)) == 1
    c = coordinator(env, FakeClock())
    for i in (1, 2):
        participate(env.bank(i), sid, 0)
    c.run_round(sid, 0, opened_at=0.0)
    assert c.run_round(sid, 0, opened_at=0.0) == "already"
    assert len(env.sessions.events("AggregateCommitted", sid)) == 1


def test_report_hash_on_chain_and_payouts_sum_to_the_escrow(fl_env: FLEnv) -> None:
    env = fl_env
    clock = FakeClock()
    coord = coordinator(env, clock)
    config = env.config(rounds=2, strategy={"name": "fedadam", "server_lr": 0.3})
    sid = started(env, config)
    contract_before = env.token.balance_of(env.sessions.address)
    for r in range(config.chain_rounds):
        for i in range(3):
            participate(env.bank(i), sid, r)
        coord.run_round(sid, r, opened_at=clock())
    coord.finalize(sid)
    assert coord.finalize(sid) == "already"
    final = env.sessions.finalization(sid)
    report_bytes = fetch(env.store, final.report_cid)
    assert keccak(report_bytes) == final.report_hash
    report = ValuationReport.from_json(report_bytes.decode())
    assert list(final.scores) == report.integer_scores()
    # Anyone with the validation data recomputes the very same report (and hash).
    assert coordinator(env).value(coordinator(env).view(sid)).digest() == final.report_hash
    assert sum(report.raw_values) == pytest.approx(report.u_full - report.u_empty, abs=1e-9)

    window = env.sessions.get(sid).challenge_window
    env.w3.provider.make_request("evm_increaseTime", [window + 1])
    env.w3.provider.make_request("evm_mine", [])
    claim_all(env.sessions, env.scientist, sid)
    state = env.sessions.get(sid)
    assert state.status == SessionStatus.SETTLED and state.held == 0
    credited = [env.sessions.withdrawable(b.address, env.token.address) for b in env.banks]
    remainder = env.sessions.withdrawable(env.scientist.address, env.token.address)
    assert sum(credited) + remainder == 3 * PRICE + POOL
    assert all(c >= PRICE for c in credited)
    for bank, amount in zip(env.banks, credited, strict=True):
        before = env.token.balance_of(bank.address)
        env.sessions.withdraw(bank, env.token.address)
        assert env.token.balance_of(bank.address) == before + amount
    env.sessions.withdraw(env.scientist, env.token.address)
    assert env.token.balance_of(env.sessions.address) == contract_before - 3 * PRICE - POOL
