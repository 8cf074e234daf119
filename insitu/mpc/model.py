"""scikit-learn models compiled to a public architecture and the owner's secret parameters.

The architecture (estimator type, layer widths, activations, class labels, whether a
standardisation step is part of the model) is public by design: the buyer's code must know
which protocol steps to run, and the dealer must know which material to prepare. The
numbers (weights, biases, scaler means and scales) never leave the owner.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from insitu.mpc.errors import UnsupportedModel

MODES = ("scores", "proba", "labels")
SCALER_FRAC_BITS = 28
"""Fractional bits of the scaler's 1/scale factors: a feature with scale 350 has 1/scale ≈
2.9e-3, which 20 bits would store with 2e-4 relative error."""


@dataclass(frozen=True)
class Architecture:
    """What both parties and the dealer know about the model."""

    estimator: str
    task: str  # "classifier" or "regressor"
    n_features: int
    widths: tuple[int, ...]  # output width of each affine layer, the last one included
    hidden_activation: str  # "relu" or "identity"
    scaler: bool
    probabilistic: bool  # a sigmoid output makes sense (binary logistic models)
    classes: tuple[Any, ...] = field(default=())

    @property
    def binary(self) -> bool:
        """A classifier whose last layer has one output (the logit of classes[1])."""
        return self.task == "classifier" and self.widths[-1] == 1

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), what the owner sends the buyer."""
        data = asdict(self)
        data["classes"] = [c.item() if isinstance(c, np.generic) else c for c in self.classes]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        """Parse `to_json` output."""
        data = json.loads(text)
        data["widths"] = tuple(data["widths"])
        data["classes"] = tuple(data["classes"])
        return cls(**data)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def check_mode(self, mode: str) -> None:
        """Raise if the output mode makes no sense for this model."""
        if mode not in MODES:
            raise UnsupportedModel(f"mode must be one of {MODES}, not {mode!r}")
        if mode != "scores" and self.task != "classifier":
            raise UnsupportedModel(f"{self.estimator} is a regressor: only mode='scores' applies")
        if mode == "proba" and not (self.binary and self.probabilistic):
            raise UnsupportedModel(
                f"mode='proba' needs a binary logistic model ({self.estimator} with "
                f"{len(self.classes)} classes has none under MPC); use 'labels' or 'scores'"
            )


@dataclass
class SecretModel:
    """The architecture and the owner's parameters in float64."""

    architecture: Architecture
    layers: list[tuple[NDArray[np.float64], NDArray[np.float64]]]  # (W d×k, b k)
    scaler: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None  # (mean, 1/scale)

    @classmethod
    def zeros(cls, arch: Architecture) -> SecretModel:
        """A model of the right shapes with zero parameters (for the dealer's planning)."""
        dims = (arch.n_features, *arch.widths)
        layers = [(np.zeros((a, b)), np.zeros(b)) for a, b in itertools.pairwise(dims)]
        scaler = (np.zeros(arch.n_features), np.zeros(arch.n_features)) if arch.scaler else None
        return cls(arch, layers, scaler)


def _linear_layers(est: Any) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
    return [(coef.T.copy(), np.broadcast_to(intercept, (coef.shape[0],)).copy())]


def compile_model(model: Any) -> SecretModel:
    """Compile a fitted scikit-learn model (optionally a Pipeline(StandardScaler, model))."""
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    scaler = None
    est = model
    if isinstance(model, Pipeline):
        steps = [step for _, step in model.steps if step not in (None, "passthrough")]
        if len(steps) == 2 and isinstance(steps[0], StandardScaler):
            sc = steps[0]
            n = sc.n_features_in_
            mean = np.zeros(n) if sc.mean_ is None else np.asarray(sc.mean_, np.float64)
            inv = np.ones(n) if sc.scale_ is None else 1.0 / np.asarray(sc.scale_, np.float64)
            scaler, est = (mean, inv), steps[1]
        elif len(steps) == 1:
            est = steps[0]
        else:
            raise UnsupportedModel(
                "only Pipeline(StandardScaler(), model) is supported; fold other "
                "preprocessing into the buyer's feature extraction"
            )
    if not hasattr(est, "n_features_in_"):
        raise UnsupportedModel("the model is not fitted; call fit() before selling predictions")
    n_features = int(est.n_features_in_)
    classes: tuple[Any, ...] = tuple(getattr(est, "classes_", ()))
    if isinstance(est, LogisticRegression | LinearSVC):
        layers, task, activation = _linear_layers(est), "classifier", "identity"
        probabilistic = isinstance(est, LogisticRegression)
    elif isinstance(est, LinearRegression | Ridge):
        layers, task, activation = _linear_layers(est), "regressor", "identity"
        probabilistic = False
    elif isinstance(est, MLPClassifier | MLPRegressor):
        if est.activation not in ("relu", "identity"):
            raise UnsupportedModel(
                f"MLP activation {est.activation!r} is not supported; train with activation='relu'"
            )
        layers = [
            (np.asarray(w, np.float64), np.asarray(b, np.float64))
            for w, b in zip(est.coefs_, est.intercepts_, strict=True)
        ]
        task = "classifier" if isinstance(est, MLPClassifier) else "regressor"
        activation = est.activation
        probabilistic = task == "classifier" and est.out_activation_ == "logistic"
        if task == "classifier" and est.out_activation_ not in ("logistic", "softmax"):
            raise UnsupportedModel("multi-label MLPs are not supported")
    else:
        raise UnsupportedModel(
            f"{type(est).__name__} is not supported; use LogisticRegression, LinearSVC, "
            "LinearRegression/Ridge or an MLP with ReLU hidden layers"
        )
    arch = Architecture(
        estimator=type(est).__name__,
        task=task,
        n_features=n_features,
        widths=tuple(int(w.shape[1]) for w, _ in layers),
        hidden_activation=activation,
        scaler=scaler is not None,
        probabilistic=probabilistic,
        classes=classes,
    )
    return SecretModel(arch, layers, scaler)
