"""FederatedSession on a real chain: every path of a session and every revert."""

from __future__ import annotations

import pytest
from chain_helpers import Chain, event_names, reverts
from eth_utils import keccak
from session_helpers import (
    ALGO,
    CID,
    DAY,
    ETH_PRICES,
    HOUR,
    POOL,
    PRICES,
    Federation,
    accept_all,
    create,
    finalize,
    run_rounds,
    salt,
    setup_federation,
)

from insitu.chain import NATIVE_TOKEN, ContractRevert, asset_id
from insitu.chain.session import (
    FederatedSession,
    SessionStatus,
    deploy_session,
    hash_participants,
    hash_scores,
    payouts,
    session_id,
)

EVIDENCE = keccak(b"recomputed utility table")


@pytest.fixture(scope="session")
def fed(chain: Chain) -> Federation:
    return setup_federation(chain)


def running(fed: Federation, accepted: tuple[int, ...] = (0, 1, 2, 3), **kwargs: object) -> bytes:
    """A started session over the four ERC-20 assets."""
    sid = create(fed, **kwargs).session_id  # type: ignore[arg-type]
    accept_all(fed, sid, accepted)
    fed.sessions.start(fed.scientist, sid)
    return sid


def finalized(fed: Federation, scores: tuple[int, ...] = (3, 1, 2, 0)) -> bytes:
    """Two rounds (participant 3 never commits), then finalized with ``scores``."""
    sid = running(fed)
    run_rounds(fed, sid, [(0, 1, 2), (0, 2, 1)])
    finalize(fed, sid, scores)
    return sid


def withdraw_all(fed: Federation, token: str) -> None:
    s = fed.sessions
    for account in (*fed.owners, fed.scientist):
        if s.withdrawable(account.address, token):
            s.withdraw(account, token)


# ------------------------------------------------------------------ the whole story


def test_full_session_pays_prices_and_pool_by_score(fed: Federation) -> None:
    c, s = fed.chain, fed.sessions
    before = c.token.balance_of(fed.scientist.address)
    creation = create(fed, rounds=2, min_participants=3)
    sid = creation.session_id
    total = sum(PRICES) + POOL
    assert c.token.balance_of(fed.scientist.address) == before - total
    assert fed.balance() == total
    assert [p.price for p in creation.participants] == list(PRICES)
    assert [p.payee for p in creation.participants] == [o.address for o in fed.owners]
    assert [p.provider for p in creation.participants] == [p.address for p in fed.providers]
    state = s.get(sid)
    assert state.status == SessionStatus.OPEN and state.held == total and state.pool == POOL
    assert state.participants_hash == hash_participants(creation.participants)
    assert event_names(s.contract, creation.receipt) == ["SessionCreated"]

    for i in range(4):
        receipt = s.accept(fed.providers[i], sid, i)
        assert event_names(s.contract, receipt) == ["ParticipantAccepted"]
    assert event_names(s.contract, s.start(fed.coordinator, sid)) == ["SessionStarted"]

    # Round 0: 0, 1, 2 commit; 3 is late and is simply absent. Round 1: 3 still silent.
    run_rounds(fed, sid, [(0, 1, 2), (2, 0, 1)])
    state = s.get(sid)
    assert state.round == 2 and state.committed == [0, 1, 2] and state.round_mask == 0
    aggregates = s.events("AggregateCommitted", sid)
    assert [e["args"]["includedMask"] for e in aggregates] == [0b0111, 0b0111]
    assert len(s.events("UpdateCommitted", sid)) == 6

    scores = (5, 1, 3, 0)
    finalize(fed, sid, scores)
    final = s.finalization(sid)
    assert final.scores == scores
    state = s.get(sid)
    assert state.status == SessionStatus.FINALIZED
    assert state.scores_hash == hash_scores(scores)[:27]
    assert state.window_end == final.challenge_end

    with reverts("NotClaimable"):
        s.claim(c.stranger, sid, 0)
    c.travel(HOUR + 1)

    per, remainder = payouts(creation.participants, scores, state.committed, POOL)
    for i in range(3):
        receipt = s.claim(c.stranger, sid, i)  # anyone may trigger; the payee is credited
        assert event_names(s.contract, receipt) == ["RewardClaimed", "Credited"]
        assert s.withdrawable(fed.owners[i].address, fed.token) == per[i]
    with reverts("NothingToClaim", index=3):
        s.claim(c.stranger, sid, 3)
    receipt = s.claim_remainder(c.stranger, sid)
    assert event_names(s.contract, receipt) == ["RemainderClaimed", "Credited", "SessionSettled"]
    # Bank 3 never worked: its price goes back, with the pool's dust.
    dust = POOL - sum(POOL * sc // 9 for sc in scores)
    assert remainder == PRICES[3] + dust
    assert s.withdrawable(fed.scientist.address, fed.token) == remainder
    assert sum(per) + remainder == total
    state = s.get(sid)
    assert state.status == SessionStatus.SETTLED and state.held == 0

    for i in range(3):
        before_i = c.token.balance_of(fed.owners[i].address)
        receipt = s.withdraw(fed.owners[i], fed.token)
        assert event_names(s.contract, receipt) == ["Withdrawn"]
        assert c.token.balance_of(fed.owners[i].address) == before_i + per[i]
    s.withdraw(fed.scientist, fed.token)
    assert fed.balance() == 0


def test_eth_session_end_to_end(fed: Federation) -> None:
    c, s = fed.chain, fed.sessions
    total = sum(ETH_PRICES) + 10**16
    sid = create(fed, fed.eth_assets, token=NATIVE_TOKEN, pool=10**16, min_participants=2)
    sid_ = sid.session_id
    assert fed.balance(NATIVE_TOKEN) == total
    accept_all(fed, sid_, (0, 1))
    s.start(fed.scientist, sid_)
    run_rounds(fed, sid_, [(0, 1), (1, 0)])
    finalize(fed, sid_, (1, 2))
    c.travel(HOUR + 1)
    s.claim(c.stranger, sid_, 0)
    s.claim(c.stranger, sid_, 1)
    s.claim_remainder(c.stranger, sid_)
    owed = [s.withdrawable(o.address, NATIVE_TOKEN) for o in fed.owners[:2]]
    assert owed == [ETH_PRICES[0] + 10**16 // 3, ETH_PRICES[1] + 2 * 10**16 // 3]
    before = c.w3.eth.get_balance(fed.owners[0].address)
    receipt = s.withdraw(fed.owners[0], NATIVE_TOKEN)
    gas_cost = receipt.gas_used * int(receipt.raw["effectiveGasPrice"])
    assert c.w3.eth.get_balance(fed.owners[0].address) == before + owed[0] - gas_cost
    withdraw_all(fed, NATIVE_TOKEN)
    assert fed.balance(NATIVE_TOKEN) == 0


def test_all_zero_scores_return_the_whole_pool(fed: Federation) -> None:
    s = fed.sessions
    sid = finalized(fed, (0, 0, 0, 0))
    fed.chain.travel(HOUR + 1)
    for i in range(3):
        s.claim(fed.chain.stranger, sid, i)
        assert s.withdrawable(fed.owners[i].address, fed.token) == PRICES[i]
    s.claim_remainder(fed.chain.stranger, sid)
    assert s.withdrawable(fed.scientist.address, fed.token) == POOL + PRICES[3]


# ------------------------------------------------------------------ creation


def test_session_id_and_hashes_match_the_contract(fed: Federation) -> None:
    s, scientist = fed.sessions, fed.scientist
    fixed = salt()
    expected = s.contract.functions.sessionIdOf(scientist.address, fixed).call()
    assert session_id(scientist.address, fixed) == expected
    assert s.session_id(scientist.address, fixed) == expected
    creation = create(fed, salt=fixed)
    assert creation.session_id == expected
    tuples = [p.as_tuple() for p in creation.participants]
    assert s.contract.functions.hashParticipants(tuples).call() == hash_participants(
        creation.participants
    )
    assert s.contract.functions.hashScores([1, 2, 2**32 - 1]).call() == hash_scores(
        [1, 2, 2**32 - 1]
    )
    created = s.created(creation.session_id)
    assert created.terms.algorithm_hash == ALGO and created.config_cid == CID
    assert created.total == sum(PRICES) + POOL
    with reverts("SessionExists"):
        create(fed, salt=fixed)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"min_participants": 0}, "InvalidParticipantCount"),
        ({"min_participants": 5}, "InvalidParticipantCount"),
        ({"assets": []}, "InvalidParticipantCount"),
        ({"rounds": 0}, "InvalidRounds"),
        ({"accept_in": 0}, "InvalidDeadlines"),
        ({"accept_in": DAY, "session_in": DAY}, "InvalidDeadlines"),
        ({"session_in": 181 * DAY}, "InvalidDeadlines"),
        ({"challenge_window": HOUR - 1}, "InvalidChallengeWindow"),
        ({"challenge_window": 30 * DAY + 1}, "InvalidChallengeWindow"),
        ({"coordinator": "0x" + "00" * 20}, "ZeroAddress"),
        ({"max_total": sum(PRICES) + POOL - 1}, "TotalAboveMax"),
        ({"algorithm_hash": keccak(b"not allowed")}, "AlgorithmNotAllowed"),
        ({"value": 1}, "WrongPayment"),
    ],
)
def test_create_rejects_bad_parameters(fed: Federation, kwargs: dict, error: str) -> None:
    assets = kwargs.pop("assets", None)
    with reverts(error):
        create(fed, assets, **kwargs)


def test_create_rejects_bad_asset_lists(fed: Federation) -> None:
    a = fed.assets
    with reverts("DuplicateAsset", assetId=a[1]):
        create(fed, [a[0], a[1], a[1]])
    with reverts("TokenMismatch", assetId=fed.eth_assets[0]):
        create(fed, [a[0], fed.eth_assets[0]])
    unknown = asset_id(fed.owners[0].address, salt())
    with reverts("AssetNotFound"):
        create(fed, [a[0], unknown])
    fed.chain.registry.retire(fed.owners[2], a[2])
    with reverts("AssetIsRetired"):
        create(fed, [a[0], a[2]])


def test_create_rejects_more_than_32_participants(fed: Federation) -> None:
    # The check runs before any registry lookup, so unregistered ids are enough.
    ids = [asset_id(fed.owners[0].address, i.to_bytes(32, "big")) for i in range(33)]
    with reverts("InvalidParticipantCount", count=33):
        create(fed, ids, min_participants=2, max_total=2**256 - 1)


def test_create_pulls_erc20_and_needs_exact_eth(fed: Federation) -> None:
    c = fed.chain
    with reverts("ERC20InsufficientAllowance"):
        create(fed, creator=c.consumer2)  # never approved
    total = sum(ETH_PRICES) + 10**16
    for value in (total - 1, total + 1, 0):
        with reverts("WrongPayment", sent=value, expected=total):
            create(fed, fed.eth_assets, token=NATIVE_TOKEN, pool=10**16, value=value)
    assert fed.balance(NATIVE_TOKEN) == 0


# ------------------------------------------------------------------ enrolment


def test_accept_checks_provider_index_deadline_and_list(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = create(fed).session_id
    with reverts("NotSessionProvider", index=1):
        s.accept(fed.providers[0], sid, 1)
    with reverts("InvalidIndex", index=4):
        s.accept(fed.providers[0], sid, 4)
    s.accept(fed.providers[1], sid, 1)
    with reverts("AlreadyAccepted", index=1):
        s.accept(fed.providers[1], sid, 1)
    tampered = [p.as_tuple() for p in s.participants(sid)]
    tampered[0] = (tampered[0][0], c.stranger.address, tampered[0][2], tampered[0][3])
    with pytest.raises(ContractRevert) as info:
        s._transact(fed.providers[0], s.contract.functions.accept(sid, 0, tampered), 0, "accept")
    assert info.value.error == "ParticipantsMismatch"
    c.travel(HOUR + 1)
    with reverts("AcceptClosed"):
        s.accept(fed.providers[0], sid, 0)
    assert s.get(sid).accepted == [1]


def test_start_needs_enough_accepted_and_the_right_sender(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = create(fed, min_participants=3).session_id
    accept_all(fed, sid, (0, 2))
    with reverts("NotEnoughAccepted", accepted=2, required=3):
        s.start(fed.scientist, sid)
    s.accept(fed.providers[3], sid, 3)
    with reverts("NotCreatorOrCoordinator"):
        s.start(c.stranger, sid)
    s.start(fed.scientist, sid)
    assert s.get(sid).status == SessionStatus.RUNNING
    with reverts("WrongStatus", status=SessionStatus.RUNNING):
        s.accept(fed.providers[1], sid, 1)
    with reverts("WrongStatus"):
        s.start(fed.scientist, sid)
    with reverts("WrongStatus"):
        s.cancel(fed.scientist, sid)


def test_start_after_the_session_deadline_fails(fed: Federation) -> None:
    sid = create(fed).session_id
    accept_all(fed, sid, (0, 1))
    fed.chain.travel(DAY + 1)
    with reverts("SessionDeadlinePassed"):
        fed.sessions.start(fed.coordinator, sid)


def test_creator_may_cancel_before_start_for_a_full_refund(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = create(fed).session_id
    accept_all(fed, sid, (0, 1))
    with reverts("CannotCancel"):
        s.cancel(c.stranger, sid)
    receipt = s.cancel(fed.scientist, sid)
    assert event_names(s.contract, receipt) == ["SessionCancelled", "Credited"]
    assert s.withdrawable(fed.scientist.address, fed.token) == sum(PRICES) + POOL
    assert s.get(sid).status == SessionStatus.CANCELLED and s.get(sid).held == 0
    with reverts("WrongStatus"):
        s.cancel(fed.scientist, sid)
    withdraw_all(fed, fed.token)
    assert fed.balance() == 0


def test_anyone_cancels_after_the_accept_deadline_when_too_few_accepted(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = create(fed, min_participants=3).session_id
    accept_all(fed, sid, (0, 1))
    with reverts("CannotCancel"):
        s.cancel(c.stranger, sid)  # the deadline has not passed
    c.travel(HOUR + 1)
    s.cancel(c.stranger, sid)
    assert s.withdrawable(fed.scientist.address, fed.token) == sum(PRICES) + POOL
    enough = create(fed, min_participants=2).session_id
    accept_all(fed, enough, (0, 1))
    c.travel(HOUR + 1)
    with reverts("CannotCancel"):
        s.cancel(c.stranger, enough)


# ------------------------------------------------------------------ rounds


def test_updates_only_from_accepted_providers_once_per_open_round(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = create(fed, rounds=2).session_id
    with reverts("WrongStatus", status=SessionStatus.OPEN):
        s.commit_update(fed.providers[0], sid, 0, 0, keccak(b"u"), CID)
    accept_all(fed, sid, (0, 1, 2))
    s.start(fed.scientist, sid)
    with reverts("NotAccepted", index=3):
        s.commit_update(fed.providers[3], sid, 0, 3, keccak(b"u"), CID)
    with reverts("NotSessionProvider"):
        s.commit_update(fed.providers[1], sid, 0, 0, keccak(b"u"), CID)
    with reverts("WrongRound", round=1, current=0):
        s.commit_update(fed.providers[0], sid, 1, 0, keccak(b"u"), CID)
    receipt = s.commit_update(fed.providers[0], sid, 0, 0, keccak(b"u"), CID)
    assert event_names(s.contract, receipt) == ["UpdateCommitted"]
    with reverts("AlreadyCommitted", round=0, index=0):
        s.commit_update(fed.providers[0], sid, 0, 0, keccak(b"u2"), CID)
    with reverts("NotEnoughUpdates", updates=1, required=2):
        s.commit_aggregate(fed.coordinator, sid, 0, keccak(b"a"), CID, included=[0])
    # Aggregated over participant 0 alone, then participant 1's update lands: the aggregate
    # must not be recorded as including an update it never saw.
    s.commit_update(fed.providers[1], sid, 0, 1, keccak(b"u"), CID)
    with reverts("IncludedMismatch", includedMask=0b1, committedMask=0b11):
        s.commit_aggregate(fed.coordinator, sid, 0, keccak(b"a"), CID, included=[0])
    with reverts("IncludedMismatch", includedMask=0b111, committedMask=0b11):
        s.commit_aggregate(fed.coordinator, sid, 0, keccak(b"a"), CID, included=[0, 1, 2])
    with reverts("NotCoordinator"):
        s.commit_aggregate(c.stranger, sid, 0, keccak(b"a"), CID, included=[0, 1])
    with reverts("WrongRound"):
        s.commit_aggregate(fed.coordinator, sid, 1, keccak(b"a"), CID, included=[0, 1])
    receipt = s.commit_aggregate(fed.coordinator, sid, 0, keccak(b"a"), CID, included=[0, 1])
    assert event_names(s.contract, receipt) == ["AggregateCommitted"]
    # Participant 2 was late for round 0: dropped from that round, back in round 1.
    with reverts("WrongRound", round=0, current=1):
        s.commit_update(fed.providers[2], sid, 0, 2, keccak(b"late"), CID)
    s.commit_update(fed.providers[2], sid, 1, 2, keccak(b"u"), CID)
    s.commit_update(fed.providers[0], sid, 1, 0, keccak(b"u"), CID)
    s.commit_aggregate(fed.coordinator, sid, 1, keccak(b"a"), CID, included=[0, 2])
    with reverts("WrongRound", round=2, current=2):
        s.commit_update(fed.providers[0], sid, 2, 0, keccak(b"u"), CID)
    state = s.get(sid)
    assert state.committed == [0, 1, 2] and state.round == 2


def test_rounds_stop_at_the_session_deadline(fed: Federation) -> None:
    s = fed.sessions
    sid = running(fed)
    s.commit_update(fed.providers[0], sid, 0, 0, keccak(b"u"), CID)
    s.commit_update(fed.providers[1], sid, 0, 1, keccak(b"u"), CID)
    fed.chain.travel(DAY + 1)
    with reverts("SessionDeadlinePassed"):
        s.commit_update(fed.providers[2], sid, 0, 2, keccak(b"u"), CID)
    with reverts("SessionDeadlinePassed"):
        s.commit_aggregate(fed.coordinator, sid, 0, keccak(b"a"), CID, included=[0, 1])


# ------------------------------------------------------------------ finalization


def test_finalize_checks_rounds_sender_and_scores(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = running(fed, accepted=(0, 1, 2))
    run_rounds(fed, sid, [(0, 1)])
    with reverts("RoundsIncomplete", aggregated=1, rounds=2):
        finalize(fed, sid, (1, 1, 0, 0))
    run_rounds(fed, sid, [(0, 1)])
    with reverts("NotCoordinator"):
        s.finalize(
            c.stranger, sid, (1, 1, 0, 0), model_hash=EVIDENCE, model_cid=CID,
            report_hash=EVIDENCE, report_cid=CID,
        )  # fmt: skip
    with reverts("ScoresLengthMismatch", length=3, expected=4):
        finalize(fed, sid, (1, 1, 0))
    # Participant 2 accepted but never committed; 3 never accepted: neither may be scored.
    with reverts("UnbackedScore", index=2):
        finalize(fed, sid, (1, 1, 1, 0))
    with reverts("UnbackedScore", index=3):
        finalize(fed, sid, (1, 1, 0, 7))
    with pytest.raises(ValueError, match="clip negatives"):
        finalize(fed, sid, (1, -1, 0, 0))
    receipt = s.finalize(
        fed.coordinator, sid, (2**32 - 1, 1, 0, 0), model_hash=EVIDENCE, model_cid=CID,
        report_hash=EVIDENCE, report_cid=CID,
    )  # fmt: skip
    assert event_names(s.contract, receipt) == ["SessionFinalized"]
    with reverts("WrongStatus", status=SessionStatus.FINALIZED):
        finalize(fed, sid, (1, 1, 0, 0))


def test_finalize_after_the_session_deadline_fails(fed: Federation) -> None:
    sid = running(fed)
    run_rounds(fed, sid, [(0, 1), (0, 1)])
    fed.chain.travel(DAY + 1)
    with reverts("SessionDeadlinePassed"):
        finalize(fed, sid, (1, 1, 0, 0))


# ------------------------------------------------------------------ challenges


def test_rejected_challenge_confirms_and_opens_claims_at_once(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = finalized(fed)
    receipt = s.challenge(c.stranger, sid, EVIDENCE, CID)
    assert event_names(s.contract, receipt) == ["FinalizationChallenged"]
    state = s.get(sid)
    assert state.status == SessionStatus.DISPUTED
    with reverts("WrongStatus", status=SessionStatus.DISPUTED):
        s.challenge(fed.scientist, sid, EVIDENCE, CID)  # once per finalization
    c.travel(HOUR + 1)
    with reverts("NotClaimable"):
        s.claim(c.stranger, sid, 0)  # frozen, even after the window
    with reverts("OwnableUnauthorizedAccount"):
        s.resolve(c.stranger, sid, False)
    assert event_names(s.contract, s.resolve(fed.arbiter, sid, False)) == ["DisputeResolved"]
    assert s.get(sid).status == SessionStatus.CONFIRMED
    with reverts("WrongStatus", status=SessionStatus.CONFIRMED):
        s.challenge(c.stranger, sid, EVIDENCE, CID)
    s.claim(c.stranger, sid, 0)
    assert s.withdrawable(fed.owners[0].address, fed.token) == PRICES[0] + POOL * 3 // 6


def test_claims_open_at_once_after_a_rejected_challenge(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = finalized(fed)
    s.challenge(c.stranger, sid, EVIDENCE, CID)
    s.resolve(fed.arbiter, sid, False)
    s.claim(c.stranger, sid, 1)  # the window (1 h) has not ended yet
    assert s.get(sid).claimed == [1]


def test_upheld_challenge_voids_the_scores_and_the_coordinator_refinalizes(
    fed: Federation,
) -> None:
    s, c = fed.sessions, fed.chain
    sid = finalized(fed, (3, 1, 2, 0))
    with reverts("ChallengeWindowClosed"):
        c.travel(HOUR + 1)
        s.challenge(c.stranger, sid, EVIDENCE, CID)
    sid = finalized(fed, (3, 1, 2, 0))
    s.challenge(fed.owners[1], sid, EVIDENCE, CID)
    s.resolve(fed.arbiter, sid, True)
    assert s.get(sid).status == SessionStatus.RUNNING
    finalize(fed, sid, (1, 4, 2, 0))
    c.travel(HOUR + 1)
    with reverts("ScoresMismatch"):
        s.claim(c.stranger, sid, 1, scores=(3, 1, 2, 0))
    s.claim(c.stranger, sid, 1)  # the wrapper reads the latest finalization
    assert s.withdrawable(fed.owners[1].address, fed.token) == PRICES[1] + POOL * 4 // 7


def test_unresolved_dispute_expires_like_an_unfinalized_session(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = finalized(fed)
    s.challenge(c.stranger, sid, EVIDENCE, CID)
    c.travel(7 * DAY - 10)
    with reverts("SessionNotExpired"):
        s.expire(c.stranger, sid)
    c.travel(11)
    with reverts("ChallengeWindowClosed"):
        s.resolve(fed.arbiter, sid, False)
    s.expire(c.stranger, sid)
    assert s.get(sid).status == SessionStatus.EXPIRED


# ------------------------------------------------------------------ expiry


def test_expiry_pays_workers_their_price_and_refunds_the_rest(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = running(fed)
    run_rounds(fed, sid, [(0, 2)])  # the coordinator then disappears
    with reverts("SessionNotExpired"):
        s.expire(c.stranger, sid)
    c.travel(DAY + 1)
    receipt = s.expire(c.stranger, sid)
    assert event_names(s.contract, receipt) == ["SessionExpired", *["Credited"] * 3]
    assert s.withdrawable(fed.owners[0].address, fed.token) == PRICES[0]
    assert s.withdrawable(fed.owners[1].address, fed.token) == 0
    assert s.withdrawable(fed.owners[2].address, fed.token) == PRICES[2]
    assert s.withdrawable(fed.scientist.address, fed.token) == POOL + PRICES[1] + PRICES[3]
    assert s.get(sid).held == 0
    with reverts("WrongStatus", status=SessionStatus.EXPIRED):
        s.expire(c.stranger, sid)
    withdraw_all(fed, fed.token)
    assert fed.balance() == 0


def test_a_session_never_started_expires_to_a_full_refund(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = create(fed).session_id
    accept_all(fed, sid, (0, 1, 2))
    c.travel(DAY + 1)
    s.expire(c.stranger, sid)
    assert s.withdrawable(fed.scientist.address, fed.token) == sum(PRICES) + POOL


def test_finalized_sessions_do_not_expire(fed: Federation) -> None:
    sid = finalized(fed)
    fed.chain.travel(DAY + 1)
    with reverts("WrongStatus", status=SessionStatus.FINALIZED):
        fed.sessions.expire(fed.chain.stranger, sid)


# ------------------------------------------------------------------ claims and withdrawals


def test_nobody_is_paid_twice(fed: Federation) -> None:
    s, c = fed.sessions, fed.chain
    sid = finalized(fed)
    c.travel(HOUR + 1)
    s.claim(c.stranger, sid, 0)
    with reverts("AlreadyClaimed", index=0):
        s.claim(fed.owners[0], sid, 0)
    s.claim_remainder(c.stranger, sid)
    with reverts("AlreadyClaimed", index=255):
        s.claim_remainder(fed.scientist, sid)
    with reverts("InvalidIndex", index=4):
        s.claim(c.stranger, sid, 4)
    with reverts("ScoresMismatch"):
        s.claim(c.stranger, sid, 1, scores=(3, 2, 1, 0))
    s.withdraw(fed.owners[0], fed.token)
    with reverts("NothingToWithdraw"):
        s.withdraw(fed.owners[0], fed.token)
    assert s.get(sid).status == SessionStatus.FINALIZED  # 1 and 2 still to claim


def test_unknown_session_reverts_with_wrong_status(fed: Federation) -> None:
    unknown = session_id(fed.scientist.address, salt())
    with reverts("WrongStatus", status=SessionStatus.NONE):
        fed.sessions.start(fed.scientist, unknown)
    with pytest.raises(ContractRevert, match="no SessionCreated event"):
        fed.sessions.participants(unknown)


def test_errors_name_the_problem_and_what_to_do(fed: Federation) -> None:
    sid = create(fed).session_id
    with pytest.raises(ContractRevert) as info:
        fed.sessions.accept(fed.providers[0], sid, 1)
    message = str(info.value)
    assert "NotSessionProvider" in message and "send from the asset's provider" in message


def test_deploy_session_sets_registry_and_arbiter(fed: Federation) -> None:
    c = fed.chain
    address = deploy_session(c.w3, c.deployer, c.registry.address, arbiter=c.stranger.address)
    other = FederatedSession(c.w3, address)
    assert other.registry() == c.registry.address
    assert other.arbiter() == c.stranger.address
    assert fed.sessions.arbiter() == fed.arbiter.address
