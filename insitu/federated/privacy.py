"""Differential privacy for federated updates: clipping, Gaussian noise, RDP accounting.

The mechanism is DP-FedAvg (McMahan et al. 2018, participant-level DP): each participant's
model delta is clipped to L2 norm ``C``; the clipped deltas are averaged *unweighted* (sample
weighting would let one large participant exceed the sensitivity bound), and Gaussian noise
of standard deviation ``sigma * C`` is added to their sum. The noise can be added by the
aggregator (central DP) or split across participants, each adding ``N(0, sigma² C² / m)``
so that only the sum carries ``sigma * C`` (distributed DP; pairs with secure aggregation).

(ε, δ) comes from `dp_accounting`'s RDP accountant, composing ``rounds`` Gaussian mechanisms,
Poisson-subsampled with rate ``q`` when participants are sampled each round (``q = 1``: all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from dp_accounting import dp_event
from dp_accounting.rdp import RdpAccountant

from insitu.federated.client import Update
from insitu.federated.errors import FederatedError
from insitu.federated.params import Params, flatten, unflatten
from insitu.federated.strategies import Strategy


@dataclass(frozen=True)
class DPConfig:
    """Clipping bound, noise multiplier and accounting parameters."""

    clip_norm: float
    noise_multiplier: float
    sampling_rate: float = 1.0
    delta: float = 1e-5

    def __post_init__(self) -> None:
        if self.clip_norm <= 0:
            raise FederatedError("clip_norm must be positive.")
        if self.noise_multiplier < 0:
            raise FederatedError("noise_multiplier must be >= 0.")
        if not 0 < self.sampling_rate <= 1:
            raise FederatedError("sampling_rate must be in (0, 1].")
        if not 0 < self.delta < 1:
            raise FederatedError("delta must be in (0, 1).")

    @property
    def noise_std(self) -> float:
        """Standard deviation of the noise on the sum of clipped deltas: ``sigma * C``."""
        return self.noise_multiplier * self.clip_norm


def clip(vector: np.ndarray, clip_norm: float) -> tuple[np.ndarray, bool]:
    """Scale `vector` down to L2 norm `clip_norm` if longer; also say whether it was clipped."""
    norm = float(np.linalg.norm(vector))
    if norm <= clip_norm:
        return np.asarray(vector, dtype=float).copy(), False
    return np.asarray(vector, dtype=float) * (clip_norm / norm), True


def gaussian_noise(dim: int, std: float, rng: np.random.Generator) -> np.ndarray:
    """Isotropic Gaussian noise."""
    return rng.normal(0.0, std, size=dim) if std > 0 else np.zeros(dim)


def privatize_delta(
    delta: np.ndarray,
    config: DPConfig,
    rng: np.random.Generator,
    noise_share: float = 0.0,
) -> np.ndarray:
    """Client side: clip the flat delta and add this participant's share of the noise.

    `noise_share` is the fraction of the noise *variance* this participant adds: ``1/m`` for
    distributed DP among m participants, 0 when the aggregator adds all of it.
    """
    clipped, _ = clip(delta, config.clip_norm)
    return clipped + gaussian_noise(clipped.size, config.noise_std * np.sqrt(noise_share), rng)


def epsilon(config: DPConfig, rounds: int) -> float:
    """ε after `rounds` rounds at `config.delta`, from the RDP accountant."""
    if rounds < 0:
        raise FederatedError("rounds must be >= 0.")
    if config.noise_multiplier == 0:
        return float("inf") if rounds > 0 else 0.0
    event: dp_event.DpEvent = dp_event.GaussianDpEvent(config.noise_multiplier)
    if config.sampling_rate < 1:
        event = dp_event.PoissonSampledDpEvent(config.sampling_rate, event)
    accountant = RdpAccountant()
    accountant.compose(event, rounds)
    return float(accountant.get_epsilon(config.delta))


@dataclass
class DPFedAvg(Strategy):
    """DP-FedAvg: unweighted mean of clipped deltas plus central Gaussian noise.

    `expected_participants` is the denominator (fixed so that it does not depend on who
    answered, as the sensitivity analysis requires); `server_lr` scales the noisy mean delta.
    """

    config: DPConfig
    expected_participants: int
    server_lr: float = 1.0
    epochs: int = 1
    learning_rate: float = 0.1
    seed: int | None = None
    clipped_last_round: int = 0

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def configure_fit(self, round_number: int) -> dict[str, object]:
        """Local epochs and step size."""
        return {"epochs": self.epochs, "learning_rate": self.learning_rate}

    def aggregate(self, global_params: Params, updates: Sequence[Update]) -> Params:
        """Clip each delta, sum, add ``N(0, (sigma C)²)``, divide by the expected count."""
        g = flatten(global_params)
        total = np.zeros_like(g)
        self.clipped_last_round = 0
        for u in updates:
            clipped, was = clip(flatten(u.params) - g, self.config.clip_norm)
            total += clipped
            self.clipped_last_round += int(was)
        total += gaussian_noise(g.size, self.config.noise_std, self._rng)
        mean_delta = total / max(self.expected_participants, 1)
        return unflatten(g + self.server_lr * mean_delta, global_params)

    def epsilon(self, rounds: int) -> float:
        """ε spent after `rounds` rounds."""
        return epsilon(self.config, rounds)
