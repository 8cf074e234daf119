"""Differential privacy on a generator's released statistics.

A local generator releases three statistics, each a vector with a bounded L2 sensitivity under
adding or removing one row (rows are clipped to the schema's bounds first):

- ``counts``: rows per class; a row changes one entry by 1, sensitivity 1;
- ``marginals``: per class, a histogram over fixed bins for each numeric column and category
  counts for each categorical column, all concatenated; a row adds 1 to one bin of each of the
  ``d`` feature columns of its own class, sensitivity ``sqrt(d)``;
- ``correlation``: per class, the upper triangle (with diagonal) of ``sum z z^T`` over the
  rows' normal scores ``z``, each row's ``z`` clipped to L2 norm ``C``; sensitivity
  ``||z z^T||_F = ||z||^2 <= C^2``.

Each is released once through the Gaussian mechanism with its own noise multiplier
(std = multiplier * sensitivity). The budget is split by weights ``w_k`` that sum to one:
``multiplier_k = s / sqrt(w_k)``, so that the composition's Rényi DP equals that of a single
Gaussian mechanism with multiplier ``s`` and the weights only decide where the noise goes. ``s``
is calibrated with dp_accounting's RDP accountant for the declared (epsilon, delta), and the
epsilon recorded with a contribution is the one the accountant reports for the multipliers
actually used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import dp_accounting
import numpy as np
from dp_accounting import dp_event, rdp

from insitu.synth.errors import PrivacyBudgetError

STATISTICS: tuple[str, ...] = ("counts", "marginals", "correlation")
# Marginals carry most of the signal a downstream classifier uses (per-class location and shape
# of each column), so they get most of the budget; counts are one short vector and need little.
DEFAULT_SPLIT: Mapping[str, float] = {"counts": 0.1, "marginals": 0.6, "correlation": 0.3}
ACCOUNTANT = "dp_accounting.rdp.RdpAccountant"


@dataclass(frozen=True)
class NoisePlan:
    """The noise multipliers for each statistic and the (epsilon, delta) they spend."""

    noise_multipliers: Mapping[str, float]
    epsilon: float
    delta: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable record."""
        return {
            "noise_multipliers": dict(self.noise_multipliers),
            "epsilon": self.epsilon,
            "delta": self.delta,
            "accountant": ACCOUNTANT,
        }


def accountant_epsilon(noise_multipliers: Mapping[str, float], delta: float) -> float:
    """The epsilon the RDP accountant gives at ``delta`` for composing these Gaussian releases."""
    accountant = rdp.RdpAccountant()
    accountant.compose(_composed_event(noise_multipliers.values()))
    return float(accountant.get_epsilon(delta))


def calibrate(
    epsilon: float, delta: float, split: Mapping[str, float] = DEFAULT_SPLIT
) -> NoisePlan:
    """The smallest noise that keeps the three releases within (epsilon, delta)."""
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise PrivacyBudgetError(
            f"epsilon must be positive and finite, got {epsilon}; pass epsilon=None for no DP"
        )
    if not 0 < delta < 1:
        raise PrivacyBudgetError(f"delta must be in (0, 1), got {delta}; 1e-5 is a usual choice")
    weights = _normalised_split(split)

    def multipliers(scale: float) -> dict[str, float]:
        return {k: scale / math.sqrt(w) for k, w in weights.items()}

    scale = float(
        dp_accounting.calibrate_dp_mechanism(
            rdp.RdpAccountant,
            lambda s: _composed_event(multipliers(s).values()),
            epsilon,
            delta,
            bracket_interval=dp_accounting.LowerEndpointAndGuess(1e-3, 1.0),
            tol=1e-7,
        )
    )
    spent = accountant_epsilon(multipliers(scale), delta)
    # Brent's method stops within tol of the boundary, possibly on the wrong side of it.
    while spent > epsilon:
        scale *= 1 + 1e-6
        spent = accountant_epsilon(multipliers(scale), delta)
    return NoisePlan(multipliers(scale), spent, delta)


class Mechanism(Protocol):
    """How a generator releases a statistic: exactly, or with calibrated noise."""

    @property
    def private(self) -> bool:
        """Whether releases are noised (and so rows' scores must be clipped)."""
        ...

    def release(self, statistic: str, values: np.ndarray, sensitivity: float) -> np.ndarray:
        """Return ``values`` as they may be published."""
        ...


class ExactRelease:
    """No differential privacy: statistics are released as computed (for trusted settings)."""

    private = False

    def release(self, statistic: str, values: np.ndarray, sensitivity: float) -> np.ndarray:
        """Return ``values`` unchanged."""
        return np.asarray(values, dtype=float)


@dataclass
class GaussianRelease:
    """The Gaussian mechanism with the multipliers of a ``NoisePlan``; each statistic once."""

    plan: NoisePlan
    rng: np.random.Generator
    noise_std: dict[str, float] = field(default_factory=dict)

    private = True

    def release(self, statistic: str, values: np.ndarray, sensitivity: float) -> np.ndarray:
        """Add N(0, (multiplier * sensitivity)^2) noise to every entry of ``values``."""
        if statistic not in self.plan.noise_multipliers:
            raise PrivacyBudgetError(
                f"no budget was planned for statistic {statistic!r}; planned: "
                f"{list(self.plan.noise_multipliers)}"
            )
        if statistic in self.noise_std:
            # The accountant composed each statistic once; a second release would overspend.
            raise PrivacyBudgetError(f"statistic {statistic!r} was already released once")
        if not sensitivity > 0:
            raise PrivacyBudgetError(f"sensitivity of {statistic!r} must be positive")
        std = self.plan.noise_multipliers[statistic] * sensitivity
        self.noise_std[statistic] = std
        values = np.asarray(values, dtype=float)
        return values + self.rng.normal(0.0, std, size=values.shape)


def _composed_event(multipliers: Any) -> dp_event.DpEvent:
    return dp_event.ComposedDpEvent([dp_event.GaussianDpEvent(float(z)) for z in multipliers])


def _normalised_split(split: Mapping[str, float]) -> dict[str, float]:
    if set(split) != set(STATISTICS) or any(not w > 0 for w in split.values()):
        raise PrivacyBudgetError(
            f"the budget split needs a positive weight for each of {STATISTICS}, got {dict(split)}"
        )
    total = float(sum(split.values()))
    return {k: float(split[k]) / total for k in STATISTICS}
