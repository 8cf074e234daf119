"""Secure summation with pairwise additive masks over Z_2^64 (federated queries).

Each pair of providers (i, j) derives a shared seed by ECDH between their secp256k1 keys
(coincurve) and HKDF-SHA256 bound to the query's session id; a PRG expands it to one 64-bit
mask per output value. Provider i adds +PRG(seed_ij) for every peer j whose public key sorts
after its own and -PRG(seed_ij) otherwise, so every pair's masks cancel in the sum over all
providers: the consumer adds the masked vectors (`combine`) and gets the exact totals, while
any single masked vector is uniformly distributed and says nothing about that provider's
counts (it is hidden by at least one mask the consumer cannot compute).

Requirements and limits: the session id must be unique per query (reusing it reuses the masks,
and the difference of two masked outputs then reveals the difference of the counts); every
provider in `participants` must contribute (no dropout recovery: a missing provider leaves
its masks in the sum, which then looks random; Bonawitz et al. handle dropouts with secret
sharing of the seeds, out of scope here); a coalition of the consumer with all but one
provider learns the remaining provider's value, as with any exact sum. The providers' keys can
be their Ethereum account keys: HKDF's info string separates this use from signing.
"""

from collections.abc import Sequence

from coincurve import PrivateKey, PublicKey

from insitu.compute.errors import SecureSumError
from insitu.crypto.kdf import hkdf_sha256

MODULUS = 2**64
_INFO = b"insitu/secure-sum/v1"


def _compressed(public_key: bytes) -> bytes:
    try:
        return PublicKey(public_key).format(compressed=True)
    except ValueError as exc:
        raise SecureSumError(
            f"participant key {public_key.hex()[:16]}… is not a secp256k1 "
            "public key: pass 33- or 65-byte keys."
        ) from exc


def pairwise_seed(private_key: bytes, peer_public_key: bytes, session: bytes) -> bytes:
    """The 32-byte seed shared by the holder of `private_key` and the peer, for `session`.

    Symmetric: pairwise_seed(sk_a, pk_b, s) == pairwise_seed(sk_b, pk_a, s).
    """
    mine = _compressed(PrivateKey(private_key).public_key.format())
    peer = _compressed(peer_public_key)
    shared = PrivateKey(private_key).ecdh(peer)
    pair = b"".join(sorted((mine, peer)))
    return hkdf_sha256(shared, session, _INFO + b"/seed" + pair, 32)


def _prg(seed: bytes, length: int) -> list[int]:
    stream = hkdf_sha256(seed, b"", _INFO + b"/prg", 8 * length)
    return [int.from_bytes(stream[8 * i : 8 * i + 8], "little") for i in range(length)]


def provider_mask(
    private_key: bytes, participants: Sequence[bytes], session: bytes, length: int
) -> list[int]:
    """This provider's mask vector for a query among `participants` (all public keys).

    `participants` must include this provider's own public key and be the same set for every
    provider of the query (order does not matter).
    """
    if not session:
        raise SecureSumError(
            "session id is empty: use the query's unique id (e.g. agreement "
            "id) so masks are never reused."
        )
    mine = _compressed(PrivateKey(private_key).public_key.format())
    keys = {_compressed(pk) for pk in participants}
    if mine not in keys:
        raise SecureSumError(
            "this provider's public key is not among the participants: pass "
            "the full participant list, including yourself."
        )
    if len(keys) < 2:
        raise SecureSumError("secure summation needs at least two participants.")
    mask = [0] * length
    for peer in sorted(keys - {mine}):
        sign = 1 if mine < peer else -1
        for i, value in enumerate(_prg(pairwise_seed(private_key, peer, session), length)):
            mask[i] = (mask[i] + sign * value) % MODULUS
    return mask


def mask_values(values: Sequence[int], mask: Sequence[int]) -> list[int]:
    """(value + mask) mod 2^64, element-wise."""
    if len(values) != len(mask):
        raise SecureSumError(f"{len(values)} values but {len(mask)} mask entries.")
    return [(int(v) + int(m)) % MODULUS for v, m in zip(values, mask, strict=True)]


def combine(masked_outputs: Sequence[Sequence[int]]) -> list[int]:
    """The element-wise totals of all providers' masked vectors (mod 2^64).

    Exact when every participant contributed and each true total is below 2^64; a result near
    2^64 (or wildly large) means a participant's vector is missing.
    """
    if not masked_outputs:
        raise SecureSumError("no masked outputs to combine.")
    lengths = {len(v) for v in masked_outputs}
    if len(lengths) != 1:
        raise SecureSumError(
            f"masked outputs have different lengths {sorted(lengths)}: they "
            "are not from the same query."
        )
    return [sum(int(v[i]) for v in masked_outputs) % MODULUS for i in range(lengths.pop())]
