"""Arithmetic over the ring Z_2^64 and its fixed-point encoding.

Secrets are `numpy.uint64` arrays; numpy's unsigned arithmetic wraps modulo 2^64, which is
exactly the ring operation, so sums, differences and products of shares need no extra code.
Real numbers are encoded in two's complement with `FRAC_BITS` fractional bits.

Why 20 fractional bits: one unit in the last place is 2^-20 ≈ 9.5e-7, so a 30-feature dot
product stays well inside the 1e-4 logit budget, while a product of two encoded values
(scale 2^40) may reach |v| < 2^22 ≈ 4.2e6 before the exact truncation's |x| < 2^62
precondition (see `protocol.Party.truncate`) is violated. 16 bits would leave too little
precision for the 1e-4 budget; 24 bits would limit products to |v| < 16384.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from insitu.mpc.errors import MPCError
from insitu.mpc.prg import Prg

FRAC_BITS = 24
"""Fractional bits of the fixed-point encoding."""

RING_BITS = 64
U64 = np.uint64
Ring = NDArray[np.uint64]


def encode(x: ArrayLike, frac_bits: int = FRAC_BITS) -> Ring:
    """Encode reals as fixed-point ring elements (round to nearest)."""
    values = np.asarray(x, dtype=np.float64)
    limit = 2.0 ** (RING_BITS - 2 - frac_bits)
    if not np.all(np.isfinite(values)) or np.any(np.abs(values) >= limit):
        raise MPCError(
            f"values must be finite and smaller than {limit:g} in magnitude to be encoded with "
            f"{frac_bits} fractional bits; rescale the inputs (e.g. standardise the features)"
        )
    return np.round(values * float(1 << frac_bits)).astype(np.int64).view(U64)


def decode(v: Ring, frac_bits: int = FRAC_BITS) -> NDArray[np.float64]:
    """Decode fixed-point ring elements (two's complement) to float64."""
    return np.asarray(v, dtype=U64).view(np.int64).astype(np.float64) / float(1 << frac_bits)


def to_ring(x: ArrayLike) -> Ring:
    """Integers (possibly negative) to ring elements, wrapping modulo 2^64."""
    values = np.asarray(x)
    if values.dtype == U64:
        return values
    return values.astype(np.int64).view(U64)


def share(secret: Ring, prg: Prg) -> tuple[Ring, Ring]:
    """Split `secret` into two additive shares; each share alone is uniform on Z_2^64."""
    s0 = prg.uint64(np.shape(secret))
    return s0, np.asarray(secret, dtype=U64) - s0


def reconstruct(s0: Ring, s1: Ring) -> Ring:
    """Recombine two additive shares."""
    return np.asarray(s0, dtype=U64) + np.asarray(s1, dtype=U64)


def as_signed(v: Ring) -> NDArray[np.int64]:
    """Ring elements read as two's complement integers."""
    return np.asarray(v, dtype=U64).view(np.int64)
