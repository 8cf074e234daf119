"""Fixtures of the private-inference tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """Deterministic test data (not used for any protocol randomness)."""
    return np.random.default_rng(1234)
