"""Stratified Shapley estimation that reuses every coalition for every player.

Write the Shapley value by coalition size (Kolpaczki et al. 2024, "Approximating the Shapley
Value without Marginal Contributions", Stratified SVARM):

    φ_i = 1/n Σ_{k=0}^{n-1} ( E[U(S) | i ∈ S, |S| = k+1] − E[U(S) | i ∉ S, |S| = k] )

Each evaluated coalition S of size k is a sample of the "with i" stratum of size k for every
i ∈ S and of the "without i" stratum for every i ∉ S, so one utility evaluation updates n
estimates at once; permutation sampling (TMC) uses it for one marginal only. Further:

* the strata of sizes 0, 1, n−1 and n are computed exactly (2n + 2 evaluations);
* sizes 2..n−2 are sampled without replacement, with the same number of coalitions per size
  (a size whose coalitions are all evaluated becomes exact), each paired with its complement
  (antithetic: S and N∖S cover every player once between them);
* the estimate is shifted equally so that it satisfies efficiency, Σφ = U(N) − U(∅).

Budget: `max_evaluations` distinct coalitions (counted by the `CachedUtility`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from insitu.federated.errors import ValuationError
from insitu.federated.valuation import CachedUtility


def _members(mask: int, n: int) -> np.ndarray:
    return np.array([(mask >> i) & 1 for i in range(n)], dtype=bool)


def _random_mask(k: int, n: int, rng: np.random.Generator) -> int:
    mask = 0
    for i in rng.choice(n, size=k, replace=False):
        mask |= 1 << int(i)
    return mask


def stratified_shapley(
    utility: CachedUtility | Callable[[int], float],
    n: int,
    *,
    max_evaluations: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, int]:
    """Stratified Shapley estimate; returns (values, distinct coalitions evaluated).

    Without `max_evaluations`, a quarter of the 2^n coalitions (at least the exact strata).
    """
    if n < 1:
        raise ValuationError("Need at least one participant.")
    util = utility if isinstance(utility, CachedUtility) else CachedUtility(utility)
    full = (1 << n) - 1
    budget = max_evaluations if max_evaluations is not None else max(2 * n + 2, (1 << n) // 4)
    # with_sum[i, k]: Σ U(S) over evaluated S ∋ i, |S| = k; without_* likewise for S ∌ i.
    with_sum = np.zeros((n, n + 1))
    with_cnt = np.zeros((n, n + 1))
    without_sum = np.zeros((n, n + 1))
    without_cnt = np.zeros((n, n + 1))
    seen: set[int] = set()

    def record(mask: int) -> None:
        if mask in seen:
            return
        seen.add(mask)
        value = util(mask)
        inside = _members(mask, n)
        k = int(inside.sum())
        with_sum[inside, k] += value
        with_cnt[inside, k] += 1
        without_sum[~inside, k] += value
        without_cnt[~inside, k] += 1

    record(0)
    record(full)
    for i in range(n):
        record(1 << i)
        record(full ^ (1 << i))
    sizes = list(range(2, n - 1))
    rng = np.random.default_rng(seed)
    remaining = {k: math.comb(n, k) for k in sizes}
    for k in sizes:
        # The exact strata above already hold some coalitions of size 1 / n-1 only.
        remaining[k] -= sum(1 for m in seen if bin(m).count("1") == k)
    turn = 0
    while sizes and util.evaluations < budget:
        open_sizes = [k for k in sizes if remaining[k] > 0]
        if not open_sizes:
            break
        k = open_sizes[turn % len(open_sizes)]
        turn += 1
        mask = _random_mask(k, n, rng)
        tries = 0
        while mask in seen and tries < 64:
            mask = _random_mask(k, n, rng)
            tries += 1
        if mask in seen:
            # Nearly exhausted: enumerate what is left of this size (cheap at these sizes).
            left = [m for m in range(full + 1) if bin(m).count("1") == k and m not in seen]
            if not left:
                remaining[k] = 0
                continue
            mask = left[int(rng.integers(len(left)))]
        for m in (mask, full ^ mask):
            if m not in seen and util.evaluations < budget:
                record(m)
                size = bin(m).count("1")
                if size in remaining:
                    remaining[size] -= 1
    values = np.zeros(n)
    for i in range(n):
        total = 0.0
        for k in range(n):
            w = with_sum[i, k + 1] / with_cnt[i, k + 1] if with_cnt[i, k + 1] else np.nan
            wo = without_sum[i, k] / without_cnt[i, k] if without_cnt[i, k] else np.nan
            if np.isnan(w) or np.isnan(wo):
                continue  # a stratum without samples contributes nothing (only under tiny budgets)
            total += w - wo
        values[i] = total / n
    gap = util(full) - util(0) - values.sum()
    values += gap / n
    return values, util.evaluations
