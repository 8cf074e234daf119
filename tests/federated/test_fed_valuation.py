"""Shapley estimators against brute force and known games; reports and integer payouts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from insitu.federated.client import local_update
from insitu.federated.errors import ValuationError
from insitu.federated.params import init_params
from insitu.federated.strategies import FedAvg
from insitu.federated.valuation import (
    CachedUtility,
    FederatedGame,
    RoundRecord,
    ValuationReport,
    brute_force_shapley,
    exact_shapley,
    gtg_shapley,
    make_report,
    payouts,
    roc_auc,
    tmc_shapley,
    value_session,
)


def _bits(mask: int, n: int) -> list[int]:
    return [i for i in range(n) if mask >> i & 1]


def test_additive_game_values_are_the_individual_values() -> None:
    w = np.array([0.3, -0.1, 2.0, 0.7])
    u = lambda m: float(sum(w[i] for i in _bits(m, 4)))  # noqa: E731
    np.testing.assert_allclose(exact_shapley(u, 4), w, atol=1e-12)


def test_glove_game() -> None:
    # Players 0, 1 hold left gloves, player 2 a right glove; a pair is worth 1.
    def u(m: int) -> float:
        left = sum(1 for i in (0, 1) if m >> i & 1)
        return float(min(left, m >> 2 & 1))

    np.testing.assert_allclose(exact_shapley(u, 3), [1 / 6, 1 / 6, 2 / 3], atol=1e-12)


def test_exact_matches_brute_force_and_is_efficient() -> None:
    rng = np.random.default_rng(0)
    table = rng.random(1 << 5)
    u = lambda m: float(table[m])  # noqa: E731
    exact = exact_shapley(u, 5)
    np.testing.assert_allclose(exact, brute_force_shapley(u, 5), atol=1e-12)
    assert exact.sum() == pytest.approx(table[31] - table[0], abs=1e-12)


def test_tmc_close_to_exact_for_six_and_counts_evaluations() -> None:
    weights = np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    u_fn = lambda m: float(np.sqrt(sum(weights[i] for i in _bits(m, 6))))  # noqa: E731
    exact = exact_shapley(u_fn, 6)
    util = CachedUtility(u_fn)
    est, perms = tmc_shapley(util, 6, max_permutations=400, tolerance=0.0, seed=1)
    assert perms == 400
    assert np.linalg.norm(est - exact) / np.linalg.norm(exact) < 0.05
    assert util.evaluations <= 64
    assert est.sum() == pytest.approx(exact.sum(), rel=1e-9)  # every permutation telescopes
    budget = CachedUtility(u_fn)
    tmc_shapley(budget, 6, max_evaluations=20, seed=1)
    assert 20 <= budget.evaluations <= 20 + 5


@pytest.fixture(scope="module")
def session_game() -> FederatedGame:
    rng = np.random.default_rng(3)
    n, d = 6, 5
    true_w = rng.normal(size=d)
    est = LogisticRegression()
    parts = []
    for i in range(n):
        X = rng.normal(size=(150, d))
        y = (X @ true_w + rng.normal(scale=1.5, size=150) > 0).astype(int)
        if i == 5:
            y = 1 - y  # an adversarial participant: inverted labels
        parts.append((X, y))
    Xv = rng.normal(size=(400, d))
    yv = (Xv @ true_w > 0).astype(int)
    g = init_params(est, d, [0, 1])
    rounds = []
    for r in range(4):
        ups = {
            i: local_update(g, est, X, y, [0, 1], learning_rate=0.2, seed=r * n + i)
            for i, (X, y) in enumerate(parts)
        }
        if r == 2:
            del ups[1]  # participant 1 missed round 2
        rounds.append(RoundRecord(global_params=g, updates=ups))
        g = FedAvg().aggregate(g, list(ups.values()))
    return FederatedGame(rounds, est, [0, 1], Xv, yv, n_participants=n)


def test_federated_game_grand_coalition_is_the_session_model(session_game) -> None:
    g = session_game
    last = g.rounds[-1]
    final = FedAvg().aggregate(last.global_params, list(last.updates.values()))
    np.testing.assert_allclose(g.coalition_params(63)[0], final[0])
    assert g.utility(0) == pytest.approx(0.5)


def test_exact_report_efficiency_and_harmful_flag(session_game) -> None:
    report = value_session(session_game, "exact")
    assert sum(report.raw_values) == pytest.approx(report.u_full - report.u_empty, abs=1e-12)
    assert report.evaluations == 64
    assert report.harmful == [False] * 5 + [True]
    assert report.scores[5] == 0.0 and report.raw_values[5] < 0


def test_tmc_and_gtg_close_to_exact_for_six(session_game) -> None:
    exact = np.array(value_session(session_game, "exact").raw_values)
    tmc = value_session(session_game, "tmc", max_permutations=2000, tolerance=0.0, seed=2)
    assert np.linalg.norm(np.array(tmc.raw_values) - exact) / np.linalg.norm(exact) < 0.1
    # GTG values a per-round game: compare with exact per-round Shapley summed over rounds.
    n = session_game.n
    per_round = sum(
        exact_shapley(session_game.round_utility(t), n) for t in range(len(session_game.rounds))
    )
    utils = [session_game.round_utility(t) for t in range(len(session_game.rounds))]
    gtg, valued = gtg_shapley(
        utils, n, permutations_per_round=600, round_tolerance=0.0, within_tolerance=0.0, seed=2
    )
    assert all(valued)
    assert np.linalg.norm(gtg - per_round) / np.linalg.norm(per_round) < 0.1
    assert gtg[1] != 0  # missed one round, still valued on the others
    assert np.argmin(gtg) == np.argmin(exact) == 5
    # Without truncation the per-round values telescope to U(all) - U(none).
    assert gtg.sum() == pytest.approx(session_game.utility(63) - session_game.utility(0), abs=1e-9)


def test_fast_auc_matches_sklearn() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + y, 1)  # rounded: many ties
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_report_is_canonical_json_and_round_trips() -> None:
    report = make_report(
        "exact",
        [0.2, -0.05, 0.1],
        ["a", "b", "c"],
        0.5,
        0.75,
        {"7": 0.75, "0": 0.5},
        evaluations=8,
        settings={"x": 1},
    )
    text = report.to_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    again = ValuationReport.from_json(text)
    assert again == report and again.digest() == report.digest() and len(report.digest()) == 32
    assert report.integer_scores() == [200_000, 0, 100_000]
    assert report.harmful == [False, True, False]


def test_payouts_are_integer_and_sum_to_pool() -> None:
    pool = 10**18 + 7
    paid, dust = payouts(pool, [333_333, 333_333, 333_334, 0])
    assert paid[3] == 0
    assert sum(paid) + dust == pool and 0 <= dust < 4
    assert paid[0] == pool * 333_333 // 1_000_000
    assert payouts(100, [0, 0]) == ([0, 0], 100)
    with pytest.raises(ValuationError):
        payouts(100, [-1, 2])
