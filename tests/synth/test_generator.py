"""The copula without DP reproduces marginals and class structure; params are plain JSON."""

from __future__ import annotations

import json

import numpy as np

from insitu.synth.generator import CopulaGenerator, fit_copula
from insitu.synth.schema import Schema

from .conftest import MERCHANTS, make_rows


def test_fit_and_sample_match_marginals(schema: Schema) -> None:
    rng = np.random.default_rng(0)
    real = make_rows(6000, rng)
    gen = fit_copula(real, schema)
    params = json.loads(json.dumps(gen.to_dict()))
    again = CopulaGenerator.from_dict(params)
    synth = again.sample(20000, np.random.default_rng(1))
    assert list(synth.columns) == schema.names
    assert abs(synth["fraud"].mean() - real["fraud"].mean()) < 0.02
    for label in (0, 1):
        r, s = real[real.fraud == label], synth[synth.fraud == label]
        assert abs(np.median(np.log(s.amount)) - np.median(np.log(r.amount))) < 0.15
        assert abs(s.hour.mean() - r.hour.mean()) < 0.5
        assert abs(s.temp.mean() - r.temp.mean()) < 0.5
        freq_r = r.merchant.value_counts(normalize=True).reindex(MERCHANTS, fill_value=0)
        freq_s = s.merchant.value_counts(normalize=True).reindex(MERCHANTS, fill_value=0)
        assert np.abs(freq_r - freq_s).max() < 0.03
    assert synth.amount.between(0, 5000).all()


def test_correlation_is_learned(schema: Schema) -> None:
    rng = np.random.default_rng(2)
    real = make_rows(4000, rng, fraud_rate=0.0)
    real["temp"] = np.clip(real["hour"] * 1.5 + rng.normal(0, 2, len(real)), -30, 50)
    gen = fit_copula(real, schema)
    hour_temp = gen.classes[0].correlation[1, 2]
    assert hour_temp > 0.8
    synth = gen.sample(5000, np.random.default_rng(3))
    assert np.corrcoef(synth.hour, synth.temp)[0, 1] > 0.8
