"""Secure aggregation with pairwise additive masks over Z_2^64 (after Bonawitz et al. 2017).

Each participant i quantises its float vector to fixed point (``round(x * 2^frac_bits)`` as a
two's-complement 64-bit integer) and sends

    y_i = q(x_i) + PRG(b_i) + Σ_{j > i} PRG(s_ij) − Σ_{j < i} PRG(s_ij)      (mod 2^64)

where ``s_ij = HKDF(ECDH(sk_i, pk_j), session ‖ round)`` is shared by i and j only (secp256k1
keys, e.g. the banks' Ethereum keys, via coincurve) and ``b_i`` is a fresh private self-mask
seed. The pairwise masks cancel in the sum; the aggregator alone learns nothing from one y_i
(it is uniform on Z_2^64 to anyone without the seeds). PRG = SHAKE-256.

Dropout recovery (the scheme chosen here): once the aggregator announces the set of
participants whose masked vectors arrived (the survivors), every survivor reveals its own
self-mask seed ``b_i`` and the pairwise seeds ``s_id`` it shared with each *dropped* d. The
aggregator then removes every mask and obtains Σ_{survivors} q(x_i). A late vector from a
dropped d stays hidden: its self-mask ``b_d`` is never revealed. A participant reveals for one
survivor set only, so a server cannot ask for both ``b_d`` and the ``s_id`` of the same d.

Why not Shamir shares (Bonawitz's t-of-n recovery)? They let the protocol survive further
dropouts *during* the unmasking step, at the price of secret-sharing two seeds to every peer
and a consistency round. In an insitu session the survivors are workers that just answered
and whose keys are registered; if one of them fails to reveal, the round fails loudly
(`SecAggError`) and is retried, which is simpler to get right and to audit. Like the
semi-honest variant of Bonawitz et al., this assumes the server announces the same survivor
set to everyone (the coordinator can commit it on-chain).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import coincurve
import numpy as np

from insitu.crypto.kdf import hkdf_sha256
from insitu.federated.errors import SecAggError
from insitu.federated.params import Params, flatten, unflatten

RING = 2**64


def prg(seed: bytes, length: int) -> np.ndarray:
    """`length` pseudo-random uint64 words expanded from a 32-byte seed (SHAKE-256)."""
    return np.frombuffer(hashlib.shake_256(seed).digest(8 * length), dtype="<u8").copy()


def quantize(vector: np.ndarray, frac_bits: int) -> np.ndarray:
    """Fixed point: ``round(x * 2^frac_bits)`` as two's-complement uint64."""
    scaled = np.rint(np.asarray(vector, dtype=float) * float(2**frac_bits))
    if np.any(np.abs(scaled) >= 2.0**62):
        raise SecAggError(
            "A value is too large for 64-bit fixed point; clip the update or lower frac_bits."
        )
    return scaled.astype(np.int64).view(np.uint64)


def dequantize(words: np.ndarray, frac_bits: int) -> np.ndarray:
    """Inverse of `quantize` (also for a sum of quantised vectors that did not overflow)."""
    return np.asarray(words, dtype=np.uint64).view(np.int64).astype(float) / float(2**frac_bits)


@dataclass(frozen=True)
class SecAggConfig:
    """Per-round parameters every participant and the aggregator agree on."""

    session_id: bytes
    round_number: int
    frac_bits: int = 24

    @property
    def salt(self) -> bytes:
        """HKDF salt: binds every pairwise seed to this session and round."""
        return hashlib.sha256(self.session_id + self.round_number.to_bytes(8, "big")).digest()


@dataclass(frozen=True)
class Reveal:
    """A survivor's unmasking message: its self-mask seed and seeds shared with dropped peers."""

    index: int
    self_seed: bytes
    pair_seeds: dict[int, bytes]


def _sign(i: int, j: int) -> int:
    return 1 if i < j else -1


@dataclass
class SecAggParticipant:
    """One participant's side of a round (create a new one per round)."""

    index: int
    private_key: coincurve.PrivateKey
    config: SecAggConfig
    _self_seed: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _peers: dict[int, bytes] = field(default_factory=dict, repr=False)
    _revealed_for: frozenset[int] | None = field(default=None, repr=False)

    @property
    def public_key(self) -> bytes:
        """Compressed secp256k1 public key (33 bytes) to publish before the round."""
        return self.private_key.public_key.format(compressed=True)

    def pair_seed(self, peer: int, peer_public_key: bytes) -> bytes:
        """The seed shared with `peer`: both sides derive the same bytes."""
        if peer == self.index:
            raise SecAggError("A participant shares no pairwise seed with itself.")
        shared = self.private_key.ecdh(peer_public_key)
        lo, hi = sorted((self.index, peer))
        info = b"insitu-secagg-pair" + lo.to_bytes(4, "big") + hi.to_bytes(4, "big")
        return hkdf_sha256(shared, self.config.salt, info)

    def mask(self, vector: np.ndarray, public_keys: Mapping[int, bytes]) -> np.ndarray:
        """The masked, quantised vector to upload; `public_keys` covers every participant."""
        if self.index not in public_keys:
            raise SecAggError(f"Participant {self.index} is missing from the round's key list.")
        if public_keys[self.index] != self.public_key:
            raise SecAggError(
                f"The key list has another public key for participant {self.index}; "
                "re-register this participant's key before the round."
            )
        self._peers = {j: pk for j, pk in public_keys.items() if j != self.index}
        words = quantize(vector, self.config.frac_bits)
        n = words.size
        with np.errstate(over="ignore"):
            masked = words + prg(self._self_seed, n)
            for j, pk in self._peers.items():
                pad = prg(self.pair_seed(j, pk), n)
                masked = masked + pad if _sign(self.index, j) > 0 else masked - pad
        return masked

    def reveal(self, survivors: Collection[int]) -> Reveal:
        """Unmasking message for the announced survivor set (answered once per round)."""
        survivor_set = frozenset(survivors)
        if self.index not in survivor_set:
            raise SecAggError(f"Participant {self.index} is not a survivor; it reveals nothing.")
        if self._revealed_for is not None and self._revealed_for != survivor_set:
            raise SecAggError(
                "The aggregator announced a different survivor set than before; refusing to "
                "reveal (it could unmask a participant's update). Abort the round."
            )
        unknown = survivor_set - set(self._peers) - {self.index}
        if unknown:
            raise SecAggError(f"Survivors {sorted(unknown)} were not in this round's key list.")
        self._revealed_for = survivor_set
        dropped = [j for j in self._peers if j not in survivor_set]
        return Reveal(
            index=self.index,
            self_seed=self._self_seed,
            pair_seeds={d: self.pair_seed(d, self._peers[d]) for d in dropped},
        )


def unmask_sum(
    masked: Mapping[int, np.ndarray],
    reveals: Mapping[int, Reveal],
    participants: Collection[int],
    config: SecAggConfig,
) -> np.ndarray:
    """The float sum of the survivors' vectors from their masked vectors and reveals.

    `participants` is the round's full key list; those without a masked vector are dropped.
    """
    survivors = sorted(masked)
    if not survivors:
        raise SecAggError("No masked vectors arrived; nothing to unmask.")
    missing = [i for i in survivors if i not in reveals]
    if missing:
        raise SecAggError(
            f"Survivors {missing} did not reveal their seeds; the sum cannot be unmasked. "
            "Retry the unmasking step or restart the round."
        )
    dropped = [d for d in participants if d not in masked]
    n = next(iter(masked.values())).size
    with np.errstate(over="ignore"):
        total = np.zeros(n, dtype=np.uint64)
        for i in survivors:
            total = total + np.asarray(masked[i], dtype=np.uint64)
            total = total - prg(reveals[i].self_seed, n)
            for d in dropped:
                seed = reveals[i].pair_seeds.get(d)
                if seed is None:
                    raise SecAggError(
                        f"Survivor {i} did not reveal its seed with dropped participant {d}."
                    )
                # Survivor i added sign(i, d) * PRG(s_id); take it back out.
                pad = prg(seed, n)
                total = total - pad if _sign(i, d) > 0 else total + pad
    return dequantize(total, config.frac_bits)


def encode_weighted(params: Params, n_samples: int) -> np.ndarray:
    """FedAvg under secure aggregation: the vector ``[n·params..., n]`` whose sum is decoded."""
    return np.append(flatten(params) * n_samples, float(n_samples))


def decode_weighted(total: np.ndarray, like: Params) -> Params:
    """The sample-weighted average from the sum of `encode_weighted` vectors."""
    n = total[-1]
    if n <= 0:
        raise SecAggError("The unmasked sample count is not positive; the sum is corrupt.")
    return unflatten(total[:-1] / n, like)
