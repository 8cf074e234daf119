"""Secure aggregation: sums are exact within quantisation, dropouts recover, masks hide data."""

from __future__ import annotations

import coincurve
import numpy as np
import pytest
from scipy import stats

from insitu.federated.errors import SecAggError
from insitu.federated.secagg import (
    SecAggConfig,
    SecAggParticipant,
    decode_weighted,
    encode_weighted,
    unmask_sum,
)

FRAC = 24
TOL = 5 * 2.0 ** -(FRAC + 1)


def _round(n: int, dim: int, seed: int = 0):
    cfg = SecAggConfig(session_id=b"session-1", round_number=3, frac_bits=FRAC)
    parts = [SecAggParticipant(i, coincurve.PrivateKey(), cfg) for i in range(n)]
    keys = {p.index: p.public_key for p in parts}
    rng = np.random.default_rng(seed)
    xs = {p.index: rng.normal(scale=3.0, size=dim) for p in parts}
    return cfg, parts, keys, xs


def test_masked_sum_equals_plaintext_sum() -> None:
    cfg, parts, keys, xs = _round(5, 300)
    masked = {p.index: p.mask(xs[p.index], keys) for p in parts}
    reveals = {p.index: p.reveal(set(masked)) for p in parts}
    total = unmask_sum(masked, reveals, keys, cfg)
    np.testing.assert_allclose(total, sum(xs.values()), atol=TOL)


def test_dropout_recovers_sum_of_survivors() -> None:
    cfg, parts, keys, xs = _round(5, 200, seed=1)
    dropped = {1, 3}
    masked = {p.index: p.mask(xs[p.index], keys) for p in parts if p.index not in dropped}
    reveals = {i: parts[i].reveal(set(masked)) for i in masked}
    assert set(reveals[0].pair_seeds) == dropped
    total = unmask_sum(masked, reveals, keys, cfg)
    np.testing.assert_allclose(total, sum(xs[i] for i in masked), atol=TOL)
    # Without the dropped participants' pairwise seeds, the result is garbage, not the sum.
    broken = {i: type(r)(r.index, r.self_seed, {}) for i, r in reveals.items()}
    with pytest.raises(SecAggError, match="dropped participant"):
        unmask_sum(masked, broken, keys, cfg)


def test_weighted_fedavg_through_secagg() -> None:
    cfg, parts, keys, _ = _round(3, 0)
    like = [np.zeros((1, 2)), np.zeros(1)]
    models = {
        0: ([np.array([[1.0, 2.0]]), np.array([0.5])], 10),
        1: ([np.array([[3.0, 0.0]]), np.array([-0.5])], 30),
        2: ([np.array([[9.0, 9.0]]), np.array([9.0])], 50),
    }
    masked = {i: parts[i].mask(encode_weighted(*models[i]), keys) for i in (0, 1)}
    reveals = {i: parts[i].reveal({0, 1}) for i in (0, 1)}
    avg = decode_weighted(unmask_sum(masked, reveals, keys, cfg), like)
    np.testing.assert_allclose(avg[0], [[2.5, 0.5]], atol=1e-6)
    np.testing.assert_allclose(avg[1], [-0.25], atol=1e-6)


def test_participant_refuses_a_second_survivor_set() -> None:
    _cfg, parts, keys, xs = _round(3, 10)
    parts[0].mask(xs[0], keys)
    parts[0].reveal({0, 1})  # reveals its seed with 2 as a dropped peer
    with pytest.raises(SecAggError, match="different survivor set"):
        parts[0].reveal({0, 1, 2})  # would let the server unmask 2's late update


def test_single_masked_update_looks_uniform_and_uncorrelated() -> None:
    _cfg, parts, keys, _ = _round(3, 0)
    dim = 40_000
    # A highly structured plaintext: constant ones.
    x = np.ones(dim)
    y = parts[0].mask(x, keys)
    byte_counts = np.bincount(y.view(np.uint8), minlength=256)
    chi2 = stats.chisquare(byte_counts)
    assert chi2.pvalue > 1e-3
    ks = stats.kstest(y.astype(float) / 2.0**64, "uniform")
    assert ks.pvalue > 1e-3
    bits = np.unpackbits(y.view(np.uint8)).reshape(dim, 64)
    assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 0.02)
    # Uncorrelated with a varying plaintext.
    z = np.random.default_rng(0).normal(size=dim)
    masked = parts[1].mask(z, keys).astype(float)
    r, _p = stats.pearsonr(z, masked)
    assert abs(r) < 0.03


def test_wrong_key_list_is_refused() -> None:
    _cfg, parts, keys, xs = _round(3, 5)
    bad = dict(keys)
    bad[0] = parts[1].public_key
    with pytest.raises(SecAggError, match="another public key"):
        parts[0].mask(xs[0], bad)
