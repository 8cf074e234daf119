"""Pairwise-masked secure summation over Z_2^64."""

import random

import pytest
from coincurve import PrivateKey

from insitu.compute.errors import SecureSumError
from insitu.compute.secure_sum import (
    MODULUS,
    combine,
    mask_values,
    pairwise_seed,
    provider_mask,
)


def _keys(n: int) -> tuple[list[bytes], list[bytes]]:
    secrets = [PrivateKey() for _ in range(n)]
    return [k.secret for k in secrets], [k.public_key.format() for k in secrets]


def test_pairwise_seed_is_symmetric_and_session_bound() -> None:
    (a, b), (pa, pb) = _keys(2)
    assert pairwise_seed(a, pb, b"s1") == pairwise_seed(b, pa, b"s1")
    assert pairwise_seed(a, pb, b"s1") != pairwise_seed(a, pb, b"s2")


@pytest.mark.parametrize("n", [2, 3, 5])
def test_masked_sum_equals_plain_sum(n: int) -> None:
    secrets, publics = _keys(n)
    rng = random.Random(n)
    values = [[rng.randrange(0, 10_000) for _ in range(4)] for _ in range(n)]
    shuffled = publics[::-1]  # participant order must not matter
    masked = [
        mask_values(v, provider_mask(sk, shuffled, b"query-1", 4))
        for sk, v in zip(secrets, values, strict=True)
    ]
    assert combine(masked) == [sum(col) for col in zip(*values, strict=True)]
    assert all(m != v for m, v in zip(masked, values, strict=True))


def test_single_masked_value_looks_uniform() -> None:
    secrets, publics = _keys(3)
    # The same true count (0) under 1000 sessions: the masked value must spread over the ring.
    samples = [provider_mask(secrets[0], publics, f"s{i}".encode(), 1)[0] for i in range(1000)]
    buckets = [0] * 16
    for s in samples:
        buckets[s * 16 // MODULUS] += 1
    expected = len(samples) / 16
    chi2 = sum((b - expected) ** 2 / expected for b in buckets)
    assert chi2 < 45  # 15 degrees of freedom; p ≈ 1e-4 for a truly uniform source
    bits = sum(bin(s).count("1") for s in samples) / (64 * len(samples))
    assert 0.48 < bits < 0.52
    assert len(set(samples)) == len(samples)


def test_missing_participant_breaks_the_sum() -> None:
    secrets, publics = _keys(3)
    masked = [mask_values([5], provider_mask(sk, publics, b"q", 1)) for sk in secrets]
    assert combine(masked) == [15]
    assert combine(masked[:2]) != [10]


def test_input_errors() -> None:
    secrets, publics = _keys(3)
    with pytest.raises(SecureSumError, match="not among the participants"):
        provider_mask(secrets[0], publics[1:], b"q", 1)
    with pytest.raises(SecureSumError, match="session"):
        provider_mask(secrets[0], publics, b"", 1)
    with pytest.raises(SecureSumError, match="not a secp256k1 public key"):
        provider_mask(secrets[0], [*publics, b"\x02" + b"\x00" * 32], b"q", 1)
    with pytest.raises(SecureSumError, match="different lengths"):
        combine([[1, 2], [3]])
