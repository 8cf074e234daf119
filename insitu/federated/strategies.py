"""Aggregation rules, separate from how updates travel (Flower's strategy/transport split).

A `Strategy` turns the global model and the round's updates into the next global model;
`configure_fit` says what each participant should do in a round (epochs, FedProx mu, ...).
Server-side optimisers (FedAvgM, FedAdam; Reddi et al. 2021, "Adaptive Federated
Optimization") treat ``global - fedavg(updates)`` as a pseudo-gradient.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from insitu.federated.client import Update
from insitu.federated.errors import RoundFailedError
from insitu.federated.params import Params


def weighted_average(updates: Sequence[Update]) -> Params:
    """FedAvg: the mean of the updates' parameters weighted by their sample counts."""
    if not updates:
        raise RoundFailedError("No updates to aggregate; the round needs at least one answer.")
    total = sum(u.n_samples for u in updates)
    if total <= 0:
        raise RoundFailedError("Updates report zero samples in total; nothing to weight by.")
    return [
        sum(u.params[i] * (u.n_samples / total) for u in updates)  # type: ignore[misc]
        for i in range(len(updates[0].params))
    ]


class Strategy(ABC):
    """An aggregation rule with optional server state (momentum, Adam moments)."""

    def initialize(self, params: Params) -> Params:
        """Reset the server state for a new session and return the initial global model."""
        return [np.array(p, dtype=float) for p in params]

    def configure_fit(self, round_number: int) -> dict[str, Any]:
        """Keyword arguments for `client.local_update` in this round."""
        return {}

    @abstractmethod
    def aggregate(self, global_params: Params, updates: Sequence[Update]) -> Params:
        """The next global model from the current one and the round's updates."""


@dataclass
class FedAvg(Strategy):
    """Sample-weighted averaging of the participants' models (McMahan et al. 2017)."""

    epochs: int = 1
    learning_rate: float = 0.1

    def configure_fit(self, round_number: int) -> dict[str, Any]:
        """Local epochs and step size, the same in every round."""
        return {"epochs": self.epochs, "learning_rate": self.learning_rate}

    def aggregate(self, global_params: Params, updates: Sequence[Update]) -> Params:
        """Weighted mean of the updates (the global model does not enter)."""
        return weighted_average(updates)


@dataclass
class FedProx(FedAvg):
    """FedAvg aggregation; clients add ``mu/2 ||w - w_global||²`` (Li et al. 2020)."""

    mu: float = 0.01

    def configure_fit(self, round_number: int) -> dict[str, Any]:
        """FedAvg's configuration plus the proximal coefficient."""
        return {**super().configure_fit(round_number), "fedprox_mu": self.mu}


def _pseudo_gradient(global_params: Params, updates: Sequence[Update]) -> Params:
    return [g - a for g, a in zip(global_params, weighted_average(updates), strict=True)]


@dataclass
class FedAvgM(FedAvg):
    """Server momentum on the pseudo-gradient: ``v = beta v + d; w -= server_lr v``.

    With ``server_lr = 1`` and ``beta = 0`` this is exactly FedAvg.
    """

    server_lr: float = 1.0
    beta: float = 0.9
    _velocity: Params | None = field(default=None, init=False, repr=False)

    def initialize(self, params: Params) -> Params:
        """Clear the momentum."""
        self._velocity = None
        return super().initialize(params)

    def aggregate(self, global_params: Params, updates: Sequence[Update]) -> Params:
        """One momentum step on ``global - fedavg(updates)``."""
        grad = _pseudo_gradient(global_params, updates)
        if self._velocity is None:
            self._velocity = [np.zeros_like(g) for g in grad]
        self._velocity = [self.beta * v + d for v, d in zip(self._velocity, grad, strict=True)]
        return [w - self.server_lr * v for w, v in zip(global_params, self._velocity, strict=True)]


@dataclass
class FedAdam(FedAvg):
    """Adam on the server (Reddi et al. 2021, Algorithm 2, without bias correction).

    ``m = b1 m + (1-b1) Δ; v = b2 v + (1-b2) Δ²; w += server_lr m / (sqrt(v) + tau)`` with
    ``Δ = fedavg(updates) - global``.
    """

    server_lr: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3
    _m: Params | None = field(default=None, init=False, repr=False)
    _v: Params | None = field(default=None, init=False, repr=False)

    def initialize(self, params: Params) -> Params:
        """Clear both moments."""
        self._m = None
        self._v = None
        return super().initialize(params)

    def aggregate(self, global_params: Params, updates: Sequence[Update]) -> Params:
        """One server Adam step."""
        step = [-g for g in _pseudo_gradient(global_params, updates)]
        if self._m is None or self._v is None:
            self._m = [np.zeros_like(d) for d in step]
            # Reddi et al. initialise v to tau² so the first step is bounded.
            self._v = [np.full_like(d, self.tau**2) for d in step]
        self._m = [
            self.beta1 * m + (1 - self.beta1) * d for m, d in zip(self._m, step, strict=True)
        ]
        self._v = [
            self.beta2 * v + (1 - self.beta2) * d * d for v, d in zip(self._v, step, strict=True)
        ]
        return [
            w + self.server_lr * m / (np.sqrt(v) + self.tau)
            for w, m, v in zip(global_params, self._m, self._v, strict=True)
        ]


@dataclass(frozen=True)
class RoundOutcome:
    """Who took part in a round: the answered participants aggregate, the rest sit it out."""

    round_number: int
    included: tuple[int | str, ...]
    dropped: tuple[int | str, ...]


def close_round(
    round_number: int,
    expected: Collection[int | str],
    answered: Mapping[int | str, Update],
    min_participants: int,
) -> RoundOutcome:
    """Decide a round at its deadline.

    The round completes with whoever answered in time if they are at least
    `min_participants`; the others are dropped for this round only (they are still expected
    next round). Answers from participants not in `expected` are ignored.
    """
    included = tuple(p for p in expected if p in answered)
    dropped = tuple(p for p in expected if p not in answered)
    if len(included) < min_participants:
        raise RoundFailedError(
            f"Round {round_number}: only {len(included)} of {len(expected)} participants "
            f"answered, fewer than the minimum {min_participants}; extend the round deadline "
            "or end the session."
        )
    return RoundOutcome(round_number=round_number, included=included, dropped=dropped)
