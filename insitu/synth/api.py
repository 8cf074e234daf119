"""The three calls a session needs: fit a contribution, combine, sample in local encoding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from insitu.synth.combiner import (
    CombinationReport,
    MixtureGenerator,
    ModelFactory,
    Strategy,
    combine_contributions,
    default_model,
)
from insitu.synth.contribution import Contribution
from insitu.synth.generator import DEFAULT_BINS, fit_copula
from insitu.synth.privacy import DEFAULT_SPLIT, ExactRelease, GaussianRelease, calibrate
from insitu.synth.schema import LocalMapping, Schema


def fit_contribution(
    df_local: pd.DataFrame,
    mapping: LocalMapping,
    schema: Schema,
    epsilon: float | None,
    delta: float = 1e-5,
    seed: int | None = None,
    *,
    participant: str = "participant",
    n_bins: int = DEFAULT_BINS,
    split: Mapping[str, float] = DEFAULT_SPLIT,
) -> Contribution:
    """Fit a provider's generator on its private rows and return what it may publish.

    ``epsilon=None`` fits without differential privacy (the recorded epsilon is then ``None``,
    i.e. unbounded). Otherwise the noise is calibrated so the RDP accountant's epsilon at
    ``delta`` is at most ``epsilon``, and that accountant epsilon is recorded. ``seed`` seeds
    the noise; leave it ``None`` in production (a known seed lets anyone subtract the noise).
    """
    df = mapping.to_schema(df_local, schema)
    rng = np.random.default_rng(seed)
    if epsilon is None:
        generator = fit_copula(df, schema, ExactRelease(), n_bins=n_bins)
        return Contribution(participant, generator.to_dict(), None, 0.0, len(df), None)
    plan = calibrate(epsilon, delta, split)
    generator = fit_copula(df, schema, GaussianRelease(plan, rng), n_bins=n_bins)
    return Contribution(
        participant,
        generator.to_dict(),
        plan.epsilon,
        plan.delta,
        round(generator.count),
        plan.to_dict(),
    )


def combine(
    contributions: Sequence[Contribution],
    validation_df: pd.DataFrame,
    schema: Schema,
    *,
    validation_mapping: LocalMapping | None = None,
    n_synthetic: int = 4000,
    seed: int = 0,
    min_gain: float = 0.0,
    strategy: Strategy = "best_first",
    model_factory: ModelFactory = default_model,
) -> tuple[MixtureGenerator, CombinationReport]:
    """Combine contributions into a global generator, keeping only those that help.

    ``validation_df`` is the coordinator's labelled validation set, in schema encoding unless
    ``validation_mapping`` says how to convert it.
    """
    if validation_mapping is not None:
        validation_df = validation_mapping.to_schema(validation_df, schema)
    return combine_contributions(
        contributions,
        validation_df,
        schema,
        n_synthetic=n_synthetic,
        seed=seed,
        min_gain=min_gain,
        strategy=strategy,
        model_factory=model_factory,
    )


def sample_local(
    global_generator: MixtureGenerator,
    n: int,
    mapping: LocalMapping,
    seed: int | None = None,
) -> pd.DataFrame:
    """Draw ``n`` synthetic rows in the participant's own columns, units and codes."""
    sample = global_generator.sample(n, np.random.default_rng(seed))
    return mapping.from_schema(sample, global_generator.schema)
