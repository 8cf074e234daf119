"""Shapley-style contribution valuation of federated participants, and integer payouts.

The game. Participants are numbered 0..n-1; a coalition is a bitmask (bit i = participant i).
Its utility is a metric (ROC AUC by default) on the data scientist's validation set of a
model *rebuilt from the committed updates* of that coalition — nobody retrains:

* ``rebuild="replay"`` (default): start from the session's initial global model and, round
  after round, add the sample-weighted mean of the coalition's committed deltas
  ``update_i - global_t``. The grand coalition gives back the session's model (FedAvg).
* ``rebuild="final"``: the sample-weighted average of the coalition's final-round models.

U(∅) is the utility of the initial global model (0.5 AUC for the zero-initialised linear
model), so the values sum to U(all) − U(∅): what the session gained over starting point.

Estimators: exact Shapley (all 2^n coalitions, each evaluated once), truncated Monte Carlo
permutation sampling (TMC, Ghorbani & Zou 2019) and GTG-Shapley (Liu et al. 2022), which
values each round separately with the round's global model as U_t(∅), truncates rounds that
barely changed the model and permutations once the remaining gain is small, and samples
permutations guided so that every participant leads equally often.

Reporting: negative values are kept in `raw_values`, clipped to 0 in `scores` and flagged
`harmful`. The report serialises to canonical JSON (sorted keys, no whitespace) so its hash
can go on-chain and anyone can recompute it; `payouts` splits a pool by integer scores the
way the contract does (integer division, dust back to the data scientist).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from eth_utils import keccak
from scipy.stats import rankdata
from sklearn.base import BaseEstimator
from sklearn.metrics import roc_auc_score

from insitu.federated.client import Update
from insitu.federated.errors import ValuationError
from insitu.federated.params import (
    Params,
    build_model,
    final_estimator,
    is_linear,
    transform_features,
)

Metric = Callable[[np.ndarray, np.ndarray], float]
"""metric(y_true, scores): scores are P(positive) for two classes, the probability matrix else."""


class CachedUtility:
    """A coalition utility with every distinct evaluation cached and counted."""

    def __init__(self, fn: Callable[[int], float]) -> None:
        self._fn = fn
        self.table: dict[int, float] = {}

    def __call__(self, mask: int) -> float:
        """U(mask), computed at most once."""
        value = self.table.get(mask)
        if value is None:
            value = float(self._fn(mask))
            self.table[mask] = value
        return value

    @property
    def evaluations(self) -> int:
        """Number of distinct coalitions evaluated so far."""
        return len(self.table)


# ------------------------------------------------------------------ estimators


def exact_shapley(utility: Callable[[int], float], n: int) -> np.ndarray:
    """Exact Shapley values from all 2^n coalition utilities."""
    if n < 1 or n > 20:
        raise ValuationError(f"Exact Shapley needs 1 <= n <= 20 participants, got {n}; use TMC.")
    size = 1 << n
    u = np.array([utility(m) for m in range(size)], dtype=float)
    masks = np.arange(size)
    popcount = np.array([bin(m).count("1") for m in range(size)])
    weights = np.array(
        [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    )
    values = np.zeros(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        values[i] = float(np.sum(weights[popcount[without]] * (u[without | (1 << i)] - u[without])))
    return values


def _guided_permutation(k: int, n: int, rng: np.random.Generator) -> list[int]:
    # Permutation k starts with participant k mod n: every participant leads equally often,
    # which stratifies the most variable marginal (joining a small coalition).
    first = k % n
    rest = [i for i in rng.permutation(n).tolist() if i != first]
    return [first, *rest]


def _walk(
    order: Sequence[int],
    utility: Callable[[int], float],
    u_empty: float,
    u_full: float,
    tolerance: float,
    marginals: np.ndarray,
) -> None:
    # One permutation: add participants in order; once the running utility is within
    # tolerance of U(all), the remaining marginals are taken as 0 (truncation).
    span = abs(u_full - u_empty)
    mask = 0
    prev = u_empty
    for pos, i in enumerate(order):
        if pos > 0 and tolerance > 0 and abs(u_full - prev) < tolerance * span:
            break
        mask |= 1 << i
        cur = u_full if pos == len(order) - 1 else utility(mask)
        marginals[i] += cur - prev
        prev = cur


def tmc_shapley(
    utility: CachedUtility,
    n: int,
    *,
    max_evaluations: int | None = None,
    max_permutations: int = 1000,
    tolerance: float = 0.01,
    antithetic: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, int]:
    """Truncated Monte Carlo Shapley; returns (values, permutations used).

    Stops before a new permutation once `max_evaluations` distinct coalitions have been
    evaluated (the last permutation may overshoot by at most n-1). `tolerance` is relative
    to |U(all) − U(∅)|. With `antithetic`, every other permutation is the previous reversed.
    """
    rng = np.random.default_rng(seed)
    full = (1 << n) - 1
    u_empty, u_full = utility(0), utility(full)
    totals = np.zeros(n)
    used = 0
    order: list[int] = []
    while used < max_permutations:
        if max_evaluations is not None and utility.evaluations >= max_evaluations and used:
            break
        if antithetic and used % 2 == 1:
            order = order[::-1]
        else:
            order = _guided_permutation(used // 2 if antithetic else used, n, rng)
        _walk(order, utility, u_empty, u_full, tolerance, totals)
        used += 1
    return totals / max(used, 1), used


def gtg_shapley(
    round_utilities: Sequence[CachedUtility],
    n: int,
    *,
    permutations_per_round: int = 2,
    round_tolerance: float = 1e-3,
    within_tolerance: float = 0.01,
    seed: int = 0,
) -> tuple[np.ndarray, list[bool]]:
    """GTG-Shapley: sum over rounds of per-round truncated, guided permutation estimates.

    ``round_utilities[t](mask)`` is the utility of global_t plus the coalition's mean delta
    of round t, so ``U_t(0)`` = global_t and ``U_t(all)`` = global_{t+1}. A round whose
    |U_t(all) − U_t(0)| is at most `round_tolerance` is skipped (between-round truncation);
    `within_tolerance` truncates permutations relative to the round's gain. Returns (values,
    rounds valued). Permutations per round are rounded up to a multiple of n so that every
    participant leads equally often.
    """
    rng = np.random.default_rng(seed)
    full = (1 << n) - 1
    values = np.zeros(n)
    valued: list[bool] = []
    per_round = max(n, math.ceil(permutations_per_round / n) * n)
    for util in round_utilities:
        u0, u1 = util(0), util(full)
        if abs(u1 - u0) <= round_tolerance:
            valued.append(False)
            continue
        valued.append(True)
        totals = np.zeros(n)
        for k in range(per_round):
            _walk(_guided_permutation(k, n, rng), util, u0, u1, within_tolerance, totals)
        values += totals / per_round
    return values, valued


# ------------------------------------------------------------------ the federated game


@dataclass
class RoundRecord:
    """One round as committed: the global model it started from and the updates received."""

    global_params: Params
    updates: Mapping[int, Update]


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (one-vs-rest for a probability matrix).

    The binary case uses the Mann-Whitney rank formula (ties at half credit, as sklearn):
    valuation evaluates thousands of coalitions, and this is several times faster.
    """
    y = np.asarray(y_true)
    if len(np.unique(y)) < 2:
        raise ValuationError("The validation set needs both classes to compute ROC AUC.")
    if scores.ndim == 2:
        return float(roc_auc_score(y, scores, multi_class="ovr"))
    positive = y == np.max(y)
    n_pos = int(positive.sum())
    n_neg = y.size - n_pos
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class FederatedGame:
    """Coalition utilities of a finished session, evaluated on the validation set."""

    def __init__(
        self,
        rounds: Sequence[RoundRecord],
        template: BaseEstimator,
        classes: Sequence[int],
        X_val: np.ndarray,
        y_val: np.ndarray,
        *,
        n_participants: int,
        metric: Metric = roc_auc,
        rebuild: str = "replay",
    ) -> None:
        if not rounds:
            raise ValuationError("No rounds to value; the session committed no updates.")
        if rebuild not in ("replay", "final"):
            raise ValuationError(f"rebuild must be 'replay' or 'final', not {rebuild!r}.")
        for r in rounds:
            bad = [i for i in r.updates if not 0 <= i < n_participants]
            if bad:
                raise ValuationError(f"Updates from unknown participants {bad}.")
        self.rounds = list(rounds)
        self.n = n_participants
        self.classes = sorted(classes)
        self.metric = metric
        self.rebuild = rebuild
        self._estimator = final_estimator(template)
        self._X = transform_features(template, X_val)
        self._y = np.asarray(y_val)
        self._fast_linear = is_linear(template) and len(self.classes) == 2
        self.utility = CachedUtility(self._coalition_utility)

    def evaluate(self, params: Params) -> float:
        """The metric of a model with `params` on the validation set."""
        if self._fast_linear:
            # Same numbers as predict_proba, without cloning an estimator per coalition.
            scores = 0.5 * (1.0 + np.tanh(0.5 * (self._X @ params[0][0] + params[1][0])))
        else:
            model = build_model(self._estimator, params, self.classes)
            proba = model.predict_proba(self._X)
            scores = proba[:, 1] if proba.shape[1] == 2 else proba
        return float(self.metric(self._y, scores))

    @staticmethod
    def _mean_delta(record: RoundRecord, members: Sequence[int]) -> Params:
        total = sum(record.updates[i].n_samples for i in members)
        return [
            sum(  # type: ignore[misc]
                (record.updates[i].params[k] - g) * (record.updates[i].n_samples / total)
                for i in members
            )
            for k, g in enumerate(record.global_params)
        ]

    def coalition_params(self, mask: int) -> Params:
        """The model a coalition's committed updates rebuild (see the module docstring)."""
        if self.rebuild == "final":
            last = self.rounds[-1]
            members = [i for i in sorted(last.updates) if mask >> i & 1]
            if not members:
                return [p.copy() for p in self.rounds[0].global_params]
            delta = self._mean_delta(last, members)
            return [g + d for g, d in zip(last.global_params, delta, strict=True)]
        params = [p.copy() for p in self.rounds[0].global_params]
        for record in self.rounds:
            members = [i for i in sorted(record.updates) if mask >> i & 1]
            if members:
                delta = self._mean_delta(record, members)
                params = [p + d for p, d in zip(params, delta, strict=True)]
        return params

    def _coalition_utility(self, mask: int) -> float:
        return self.evaluate(self.coalition_params(mask))

    def round_utility(self, t: int) -> CachedUtility:
        """U_t(mask): round t's global model plus the coalition's mean delta of round t."""
        record = self.rounds[t]
        present = sum(1 << i for i in record.updates)

        def fn(mask: int) -> float:
            members = [i for i in sorted(record.updates) if mask >> i & 1]
            if not members:
                return self.evaluate(record.global_params)
            delta = self._mean_delta(record, members)
            return self.evaluate([g + d for g, d in zip(record.global_params, delta, strict=True)])

        inner = CachedUtility(fn)
        # Absent participants change nothing: key the cache by the present members only.
        wrapper = CachedUtility(lambda mask: inner(mask & present))
        return wrapper


# ------------------------------------------------------------------ report and payouts


@dataclass
class ValuationReport:
    """Everything needed to recompute and audit the scores (goes to IPFS as canonical JSON).

    `utilities` maps a coalition bitmask (decimal string; ``"t:mask"`` for per-round GTG
    utilities) to its utility.
    """

    method: str
    participants: list[str]
    metric: str
    u_empty: float
    u_full: float
    raw_values: list[float]
    scores: list[float]
    harmful: list[bool]
    evaluations: int
    utilities: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, shortest round-trip floats."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> ValuationReport:
        """Parse a report produced by `to_json`."""
        return cls(**json.loads(text))

    def digest(self) -> bytes:
        """keccak256 of the canonical JSON: what the session contract stores."""
        return keccak(text=self.to_json())

    def integer_scores(self, scale: int = 1_000_000) -> list[int]:
        """Scores as integers for on-chain posting: ``round(score * scale)``."""
        return [round(s * scale) for s in self.scores]


def make_report(
    method: str,
    raw_values: Sequence[float],
    participants: Sequence[str],
    u_empty: float,
    u_full: float,
    utilities: Mapping[str, float],
    evaluations: int,
    metric: str = "roc_auc",
    settings: Mapping[str, Any] | None = None,
) -> ValuationReport:
    """Build a report: clip negative values to 0 in the scores and flag them harmful."""
    raw = [float(v) for v in raw_values]
    if len(raw) != len(participants):
        raise ValuationError("One value per participant is required.")
    return ValuationReport(
        method=method,
        participants=list(participants),
        metric=metric,
        u_empty=float(u_empty),
        u_full=float(u_full),
        raw_values=raw,
        scores=[max(v, 0.0) for v in raw],
        harmful=[v < 0 for v in raw],
        evaluations=int(evaluations),
        utilities=dict(sorted(utilities.items())),
        settings=dict(settings or {}),
    )


def value_session(
    game: FederatedGame,
    method: str = "exact",
    participants: Sequence[str] | None = None,
    **options: Any,
) -> ValuationReport:
    """Value a finished session with "exact", "tmc" or "gtg" and return the report."""
    names = list(participants) if participants is not None else [str(i) for i in range(game.n)]
    full = (1 << game.n) - 1
    if method == "exact":
        values = exact_shapley(game.utility, game.n)
        table = {str(m): u for m, u in game.utility.table.items()}
        evaluations = game.utility.evaluations
    elif method == "tmc":
        values, used = tmc_shapley(game.utility, game.n, **options)
        options = {**options, "permutations": used}
        table = {str(m): u for m, u in game.utility.table.items()}
        evaluations = game.utility.evaluations
    elif method == "gtg":
        utils = [game.round_utility(t) for t in range(len(game.rounds))]
        values, valued = gtg_shapley(utils, game.n, **options)
        options = {**options, "rounds_valued": valued}
        table = {f"{t}:{m}": u for t, util in enumerate(utils) for m, u in util.table.items()}
        evaluations = sum(util.evaluations for util in utils)
    else:
        raise ValuationError(f"Unknown valuation method {method!r}; use exact, tmc or gtg.")
    return make_report(
        method,
        values,
        names,
        u_empty=game.utility(0),
        u_full=game.utility(full),
        utilities=table,
        evaluations=evaluations,
        metric=getattr(game.metric, "__name__", "metric"),
        settings={"rebuild": game.rebuild, **options},
    )


def payouts(pool: int, int_scores: Sequence[int]) -> tuple[list[int], int]:
    """Split `pool` (wei) as ``pool * score // Σscores``; return (payouts, dust).

    Dust (the rounding remainder, or everything when all scores are 0) goes back to the data
    scientist, so ``sum(payouts) + dust == pool`` exactly.
    """
    if pool < 0 or any(s < 0 for s in int_scores):
        raise ValuationError("The pool and the scores must be non-negative integers.")
    total = sum(int_scores)
    if total == 0:
        return [0] * len(int_scores), pool
    paid = [pool * s // total for s in int_scores]
    return paid, pool - sum(paid)


def brute_force_shapley(utility: Callable[[int], float], n: int) -> np.ndarray:
    """Shapley values by averaging marginals over all n! orders (a reference for small n)."""
    values = np.zeros(n)
    count = 0
    for order in itertools.permutations(range(n)):
        mask = 0
        prev = utility(0)
        for i in order:
            mask |= 1 << i
            cur = utility(mask)
            values[i] += cur - prev
            prev = cur
        count += 1
    return values / count
