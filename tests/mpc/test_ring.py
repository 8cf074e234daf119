"""Fixed-point encoding, CSPRNG and exact truncation."""

from __future__ import annotations

import numpy as np
import pytest
from mpc_harness import run_step, shares_of

from insitu.mpc.errors import MPCError
from insitu.mpc.prg import Prg
from insitu.mpc.ring import FRAC_BITS, U64, as_signed, decode, encode


def test_encode_decode_round_trip(rng: np.random.Generator) -> None:
    x = rng.normal(0, 1000, 10_000)
    assert np.abs(decode(encode(x)) - x).max() <= 2.0 ** -(FRAC_BITS + 1)


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(MPCError, match="rescale"):
        encode([2.0**50])
    with pytest.raises(MPCError):
        encode([np.nan])


def test_ring_wraps_modulo_2_64() -> None:
    a = np.array([2**64 - 1], dtype=U64)
    assert (a + np.array([2], dtype=U64))[0] == 1


def test_prg_is_keyed_and_fresh() -> None:
    key = b"k" * 32
    assert np.array_equal(Prg(key).uint64(8), Prg(key).uint64(8))
    stream = Prg(key)
    assert not np.array_equal(stream.uint64(8), stream.uint64(8))
    assert not np.array_equal(Prg().uint64(8), Prg().uint64(8))


@pytest.mark.parametrize("bits", [FRAC_BITS, 28])
def test_truncation_error_at_most_one_ulp(rng: np.random.Generator, bits: int) -> None:
    # Include the extremes of the precondition |x| < 2^62, where local truncation fails most.
    edge = np.array([0, 1, -1, 2**62 - 1, -(2**62) + 1, 2**61, -(2**61)], dtype=np.int64)
    x = np.concatenate([rng.integers(-(2**62) + 1, 2**62, 200_000, dtype=np.int64), edge])
    s0, s1 = shares_of(x.view(U64))
    y0, y1 = run_step(lambda p, s: p.truncate(s, bits), s0, s1)
    err = as_signed(y0 + y1) - (x >> bits)  # arithmetic shift = floor division
    assert set(np.unique(err).tolist()) <= {0, 1}


def test_truncation_of_products(rng: np.random.Generator) -> None:
    a, b = rng.normal(0, 50, 5000), rng.normal(0, 50, 5000)
    a0, a1 = shares_of(encode(a))
    b0, b1 = shares_of(encode(b))
    z0, z1 = run_step(lambda p, s: p.truncate(p.mul(*s)), (a0, b0), (a1, b1))
    assert np.abs(decode(z0 + z1) - a * b).max() < 1e-4
