"""Secure products, comparison, ReLU, sigmoid and argmax against plaintext."""

from __future__ import annotations

import numpy as np
from mpc_harness import run_step, shares_of
from scipy.special import expit

from insitu.mpc import nonlinear
from insitu.mpc.ring import U64, as_signed, decode, encode


def test_cross_matmul_matches_plaintext(rng: np.random.Generator) -> None:
    x, w = rng.normal(size=(50, 7)), rng.normal(size=(7, 3))
    ex, ew = encode(x), encode(w)
    z0, z1 = run_step(
        lambda p, inp: p.truncate(p.cross_matmul(inp[0], inp[1], (50, 7, 3))),
        (None, ew),
        (ex, None),
    )
    assert np.abs(decode(z0 + z1) - x @ w).max() < 1e-5


def test_msb_is_exact_on_edge_cases(rng: np.random.Generator) -> None:
    values = np.concatenate(
        [
            np.array([0, 1, -1, 2**63 - 1, -(2**63), 2**62, -(2**62)], dtype=np.int64),
            rng.integers(-(2**63), 2**63 - 1, 20_000, dtype=np.int64),
        ]
    )
    s0, s1 = shares_of(values.view(U64))
    b0, b1 = run_step(lambda p, s: p.msb(s), s0, s1)
    assert np.array_equal((b0 ^ b1).astype(bool), values < 0)


def test_relu(rng: np.random.Generator) -> None:
    x = rng.normal(0, 10, (300, 16))
    s0, s1 = shares_of(encode(x))
    r0, r1 = run_step(nonlinear.relu, s0, s1)
    assert np.abs(decode(r0 + r1) - np.maximum(x, 0)).max() < 1e-6


def test_sigmoid_approximation_error_in_the_clear() -> None:
    x = np.linspace(-40, 40, 400_001)
    assert np.abs(nonlinear.sigmoid_plain(x) - expit(x)).max() < 1e-4


def test_secure_sigmoid_error(rng: np.random.Generator) -> None:
    # Far outliers check that out-of-range pieces cancel in the telescoping selection.
    x = np.concatenate([rng.normal(0, 6, 3000), np.linspace(-12, 12, 2001), [-5e3, 5e3, 0.0]])
    s0, s1 = shares_of(encode(x))
    y0, y1 = run_step(nonlinear.sigmoid, s0, s1)
    assert np.abs(decode(y0 + y1) - expit(x)).max() < 1e-3


def test_argmax_matches_numpy_including_ties(rng: np.random.Generator) -> None:
    scores = rng.normal(0, 3, (400, 10))
    scores[:5, 3] = scores[:5, 7] = 100.0  # ties: numpy picks the first
    s0, s1 = shares_of(encode(scores))
    i0, i1 = run_step(nonlinear.argmax, s0, s1)
    assert np.array_equal(as_signed(i0 + i1), scores.argmax(axis=1))
