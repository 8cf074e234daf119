"""The noise actually added matches what the RDP accountant gives for the declared budget."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dp_accounting import dp_event, rdp

from insitu.synth.api import fit_contribution
from insitu.synth.errors import PrivacyBudgetError
from insitu.synth.generator import CLIP_FACTOR, fit_copula
from insitu.synth.privacy import DEFAULT_SPLIT, GaussianRelease, calibrate
from insitu.synth.schema import LocalMapping, Schema

from .conftest import make_rows


def independent_epsilon(multipliers: list[float], delta: float) -> float:
    accountant = rdp.RdpAccountant()
    for z in multipliers:
        accountant.compose(dp_event.GaussianDpEvent(z))
    return accountant.get_epsilon(delta)


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 8.0])
def test_calibrated_noise_is_tight_for_the_accountant(epsilon: float) -> None:
    plan = calibrate(epsilon, 1e-5)
    multipliers = list(plan.noise_multipliers.values())
    spent = independent_epsilon(multipliers, 1e-5)
    assert plan.epsilon == pytest.approx(spent, rel=1e-9)
    assert spent <= epsilon
    # Tight: 1 % less noise would overspend.
    assert independent_epsilon([z * 0.99 for z in multipliers], 1e-5) > epsilon
    # The split only moves noise around: sum of 1/z^2 is that of one Gaussian of multiplier s.
    s = 1 / math.sqrt(sum(1 / z**2 for z in multipliers))
    for name, weight in DEFAULT_SPLIT.items():
        assert plan.noise_multipliers[name] == pytest.approx(s / math.sqrt(weight))


def test_released_noise_std_matches_plan_and_sensitivity(schema: Schema) -> None:
    plan = calibrate(1.0, 1e-5)
    mechanism = GaussianRelease(plan, np.random.default_rng(0))
    fit_copula(make_rows(500, np.random.default_rng(1)), schema, mechanism)
    d = len(schema.features)
    z = plan.noise_multipliers
    assert mechanism.noise_std["counts"] == pytest.approx(z["counts"])
    assert mechanism.noise_std["marginals"] == pytest.approx(z["marginals"] * math.sqrt(d))
    assert mechanism.noise_std["correlation"] == pytest.approx(
        z["correlation"] * (CLIP_FACTOR * math.sqrt(d)) ** 2
    )


def test_contribution_records_accountant_epsilon(schema: Schema) -> None:
    local = make_rows(800, np.random.default_rng(4))
    c = fit_contribution(local, LocalMapping.identity(schema), schema, 2.0, 1e-6, seed=1)
    assert c.noise is not None
    spent = independent_epsilon(list(c.noise["noise_multipliers"].values()), 1e-6)
    assert c.spent_epsilon == pytest.approx(spent, rel=1e-9)
    assert c.spent_epsilon <= 2.0
    assert c.delta == 1e-6


def test_noise_really_is_added(schema: Schema) -> None:
    rows = make_rows(300, np.random.default_rng(5))
    identity = LocalMapping.identity(schema)
    exact = fit_contribution(rows, identity, schema, None)
    noisy = fit_contribution(rows, identity, schema, 1.0, seed=0)
    assert exact.n_rows == 300 and exact.spent_epsilon is None
    assert noisy.params["classes"][0]["count"] != exact.params["classes"][0]["count"]


def test_bad_budget_is_refused() -> None:
    with pytest.raises(PrivacyBudgetError, match="epsilon"):
        calibrate(0.0, 1e-5)
    with pytest.raises(PrivacyBudgetError, match="delta"):
        calibrate(1.0, 0.0)
    plan = calibrate(1.0, 1e-5)
    mechanism = GaussianRelease(plan, np.random.default_rng(0))
    mechanism.release("counts", np.zeros(2), 1.0)
    with pytest.raises(PrivacyBudgetError, match="already released"):
        mechanism.release("counts", np.zeros(2), 1.0)
