"""Local training on one participant's data: the work a bank does in each round.

Linear models (SGDClassifier with log loss, LogisticRegression) are trained by an explicit
numpy mini-batch SGD on the (L2-regularised) logistic loss because sklearn's solvers have no
hook for FedProx's proximal term ``mu/2 * ||w - w_global||²``; with ``mu = 0`` this is plain
FedAvg local SGD. The regularisation strength follows the estimator: ``alpha`` for
SGDClassifier, ``1 / (C * n_local)`` for LogisticRegression (sklearn's objective divided by n).

MLPClassifier is trained with its own ``partial_fit`` (so the data scientist's solver,
activation and batch size are used as is). FedProx there is an approximation: after each
local epoch of ``s`` mini-batch steps the weights are pulled toward the global model by the
closed form of ``s`` implicit proximal steps, ``w <- w_g + (w - w_g) / (1 + lr * mu * s)``,
instead of adding ``mu (w - w_g)`` to every gradient inside sklearn's optimiser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier

from insitu.federated.errors import FederatedError
from insitu.federated.params import (
    Params,
    build_model,
    final_estimator,
    transform_features,
)


@dataclass
class Update:
    """What a participant sends back after a round of local training."""

    params: Params
    n_samples: int
    metrics: dict[str, float] = field(default_factory=dict)
    participant: int | str | None = None

    def delta(self, global_params: Params) -> Params:
        """The update as a difference from the global model it started from."""
        return [p - g for p, g in zip(self.params, global_params, strict=True)]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _l2_strength(est: BaseEstimator, n: int) -> float:
    if isinstance(est, SGDClassifier):
        return float(est.alpha) if est.penalty in ("l2", "elasticnet") else 0.0
    assert isinstance(est, LogisticRegression)
    if est.penalty is None or est.C is None:
        return 0.0
    return 1.0 / (float(est.C) * max(n, 1))


def linear_sgd(
    global_params: Params,
    X: np.ndarray,
    y_index: np.ndarray,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    l2: float,
    fedprox_mu: float,
    rng: np.random.Generator,
) -> Params:
    """Mini-batch SGD on the logistic (or softmax) loss with L2 and a proximal term.

    `y_index` holds class indices (0..n_classes-1). Returns the new ``[coef, intercept]``.
    """
    w_g, b_g = global_params
    w, b = w_g.copy(), b_g.copy()
    k = w.shape[0]
    target = y_index.astype(float)[:, None] if k == 1 else np.eye(k)[y_index]
    n = X.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            xb = X[idx]
            z = xb @ w.T + b
            p = _sigmoid(z) if k == 1 else _softmax(z)
            err = p - target[idx]  # gradient of the loss w.r.t. the logits
            grad_w = err.T @ xb / len(idx) + l2 * w + fedprox_mu * (w - w_g)
            grad_b = err.mean(axis=0) + fedprox_mu * (b - b_g)
            w -= learning_rate * grad_w
            b -= learning_rate * grad_b
    return [w, b]


def _class_index(y: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    classes_arr = np.asarray(classes)
    idx = np.searchsorted(classes_arr, y)
    bad = (idx >= len(classes_arr)) | (classes_arr[np.minimum(idx, len(classes_arr) - 1)] != y)
    if np.any(bad):
        raise FederatedError(
            f"Labels {sorted(set(np.asarray(y)[bad].tolist()))} are not among the session's "
            f"classes {list(classes_arr)}; fix the data or the session's class list."
        )
    return idx


def local_update(
    global_params: Params,
    estimator_template: BaseEstimator,
    X: np.ndarray,
    y: np.ndarray,
    classes: Sequence[int],
    *,
    epochs: int = 1,
    fedprox_mu: float = 0.0,
    learning_rate: float = 0.1,
    batch_size: int = 64,
    seed: int = 0,
    participant: int | str | None = None,
) -> Update:
    """Train locally from `global_params` and return the new parameters.

    `estimator_template` is the data scientist's estimator or Pipeline (preprocessing fitted);
    X holds raw features (the Pipeline's preprocessing is applied here). `learning_rate` and
    `batch_size` drive the linear solver; the MLP uses its own hyper-parameters (its
    `learning_rate_init` also sets the FedProx pull). Metrics: training log loss before and after.
    """
    classes = sorted(classes)
    y_arr = np.asarray(y)
    y_index = _class_index(y_arr, classes)
    Xt = transform_features(estimator_template, X)
    n = Xt.shape[0]
    if n == 0:
        raise FederatedError("The participant has no training rows; it cannot send an update.")
    est = final_estimator(estimator_template)
    rng = np.random.default_rng(seed)
    before = _train_loss(estimator_template, global_params, classes, Xt, y_arr)
    if isinstance(est, SGDClassifier | LogisticRegression):
        new_params = linear_sgd(
            global_params,
            Xt,
            y_index,
            epochs=epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            l2=_l2_strength(est, n),
            fedprox_mu=fedprox_mu,
            rng=rng,
        )
    else:
        assert isinstance(est, MLPClassifier)
        new_params = _mlp_update(global_params, est, Xt, y_arr, classes, epochs, fedprox_mu, seed)
    after = _train_loss(estimator_template, new_params, classes, Xt, y_arr)
    return Update(
        params=new_params,
        n_samples=n,
        metrics={"train_loss_before": before, "train_loss_after": after},
        participant=participant,
    )


def _mlp_update(
    global_params: Params,
    est: MLPClassifier,
    Xt: np.ndarray,
    y: np.ndarray,
    classes: Sequence[int],
    epochs: int,
    fedprox_mu: float,
    seed: int,
) -> Params:
    model = build_model(est, global_params, classes)
    assert isinstance(model, MLPClassifier)
    model.set_params(random_state=seed)
    batch = min(200, Xt.shape[0]) if model.batch_size == "auto" else int(model.batch_size)
    steps = int(np.ceil(Xt.shape[0] / batch))
    pull = 1.0 / (1.0 + float(model.learning_rate_init) * fedprox_mu * steps)
    for _ in range(epochs):
        model.partial_fit(Xt, y)
        if fedprox_mu > 0:
            current = [*model.coefs_, *model.intercepts_]
            for p, g in zip(current, global_params, strict=True):
                p[...] = g + (p - g) * pull
    return [np.array(p, dtype=float) for p in (*model.coefs_, *model.intercepts_)]


def _train_loss(
    template: BaseEstimator, params: Params, classes: Sequence[int], Xt: np.ndarray, y: np.ndarray
) -> float:
    model = build_model(final_estimator(template), params, classes)
    proba = model.predict_proba(Xt)
    return float(log_loss(y, proba, labels=list(classes)))
