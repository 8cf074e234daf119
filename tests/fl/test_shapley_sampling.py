"""The stratified Shapley estimator against brute force on games with known values."""

from __future__ import annotations

import numpy as np
import pytest

from insitu.federated.valuation import (
    CachedUtility,
    brute_force_shapley,
    exact_shapley,
    tmc_shapley,
)
from insitu.fl.shapley_sampling import stratified_shapley


def _game(n: int, seed: int) -> CachedUtility:
    # A non-additive game: weighted coverage with diminishing returns plus pairwise synergies.
    rng = np.random.default_rng(seed)
    w = rng.uniform(0, 1, n)
    synergy = rng.normal(0, 0.1, (n, n))

    def u(mask: int) -> float:
        members = [i for i in range(n) if mask >> i & 1]
        base = 1 - np.exp(-sum(w[i] for i in members))
        return float(base + sum(synergy[i, j] for i in members for j in members if i < j))

    return CachedUtility(u)


def test_full_budget_is_exact() -> None:
    game = _game(6, 0)
    est, used = stratified_shapley(game, 6, max_evaluations=1 << 6, seed=1)
    assert used == 1 << 6
    np.testing.assert_allclose(est, brute_force_shapley(game, 6), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_efficiency_and_accuracy_at_a_quarter_of_the_coalitions(seed: int) -> None:
    n = 10
    game = _game(n, seed)
    exact = exact_shapley(game, n)
    sampled = CachedUtility(game.table.__getitem__)
    est, used = stratified_shapley(sampled, n, max_evaluations=256, seed=seed)
    assert used <= 256
    assert est.sum() == pytest.approx(game(~(-1 << n)) - game(0), abs=1e-12)
    assert np.linalg.norm(est - exact) / np.linalg.norm(exact) < 0.05


def test_beats_permutation_sampling_at_the_same_budget() -> None:
    n = 10
    game = _game(n, 7)
    exact = exact_shapley(game, n)
    errors = {"stratified": [], "tmc": []}
    for seed in range(4):
        u = CachedUtility(game.table.__getitem__)
        est, _ = stratified_shapley(u, n, max_evaluations=200, seed=seed)
        errors["stratified"].append(np.linalg.norm(est - exact))
        u = CachedUtility(game.table.__getitem__)
        est, _ = tmc_shapley(u, n, max_evaluations=200, seed=seed)
        errors["tmc"].append(np.linalg.norm(est - exact))
    assert np.mean(errors["stratified"]) < np.mean(errors["tmc"])
