"""The combiner keeps helpful contributions and rejects a flipped-label one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from insitu.synth.api import combine, fit_contribution, sample_local
from insitu.synth.combiner import MixtureGenerator
from insitu.synth.schema import LocalMapping, Schema

from .conftest import MERCHANTS, make_rows


def test_flipped_labels_are_rejected(schema: Schema, mapping: LocalMapping) -> None:
    identity = LocalMapping.identity(schema)
    rng = np.random.default_rng(0)
    honest = [make_rows(1500, rng) for _ in range(3)]
    flipped = make_rows(1500, rng)
    flipped["fraud"] = 1 - flipped["fraud"]
    contributions = [
        fit_contribution(df, identity, schema, 4.0, 1e-5, seed=i, participant=f"bank_{i}")
        for i, df in enumerate([*honest, flipped])
    ]
    # The validation set comes in a participant's local encoding.
    validation = mapping.from_schema(make_rows(2000, rng), schema)
    generator, report = combine(
        contributions, validation, schema, validation_mapping=mapping, n_synthetic=2000
    )
    flipped_id = contributions[-1].contribution_id
    assert flipped_id in report.rejected
    decision = next(d for d in report.decisions if d.contribution_id == flipped_id)
    assert decision.metric_after < decision.metric_before
    assert report.accepted and report.final_metric > 0.85
    assert report.trajectory == sorted(report.trajectory)
    assert len(report.decisions) == len(contributions)

    published = json.loads(json.dumps(generator.to_dict()))
    assert flipped_id not in [c["contribution_id"] for c in published["components"]]
    json.dumps(report.to_dict())

    local = sample_local(MixtureGenerator.from_dict(published), 3000, mapping, seed=1)
    assert list(local.columns) == mapping.local_names
    assert local["amt_cents"].dtype == np.int64
    assert local["amt_cents"].between(0, 500_000).all()
    assert set(local["mcc"]) <= {5411, 4511, 5732, 9999}
    assert set(local["is_fraud"]) == {"N", "F"}
    assert local["temp_f"].between(-22.0, 122.0).all()
    assert (local["temp_f"] == local["temp_f"].round(1)).all()
    # Units really converted: synthetic legit amounts are tens of euros, i.e. thousands of cents.
    legit = local[local.is_fraud == "N"]
    assert 1000 < legit["amt_cents"].median() < 10_000
    back = mapping.to_schema(local, schema)
    assert set(back["merchant"]) <= set(MERCHANTS)


def test_in_order_strategy_and_balanced_sampling(schema: Schema) -> None:
    identity = LocalMapping.identity(schema)
    rng = np.random.default_rng(3)
    contributions = [
        fit_contribution(make_rows(1000, rng, 0.05), identity, schema, None, participant=p)
        for p in ("a", "b")
    ]
    generator, report = combine(
        contributions, make_rows(1500, rng), schema, strategy="in_order", n_synthetic=1000
    )
    assert [d.participant for d in report.decisions] == ["a", "b"]
    balanced = generator.sample(2000, np.random.default_rng(0), balanced=True)
    assert balanced["fraud"].mean() == 0.5
    natural = generator.sample(4000, np.random.default_rng(0))
    assert natural["fraud"].mean() < 0.1
    assert isinstance(natural, pd.DataFrame)
