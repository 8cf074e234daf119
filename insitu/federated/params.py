"""A scikit-learn estimator's learnable parameters as a list of numpy arrays, and back.

Supported final estimators: `SGDClassifier` (loss="log_loss"), `LogisticRegression` and
`MLPClassifier`, alone or as the last step of a `Pipeline`.

Parameter layout (the order every participant and the aggregator agree on):

* linear models: ``[coef_ (k, d), intercept_ (k,)]`` with ``k = 1`` for two classes and
  ``k = n_classes`` otherwise, exactly sklearn's own shapes;
* MLP: ``coefs_ + intercepts_`` (sklearn's internal parameter order).

Preprocessing in a Pipeline: every step before the last is applied as is and must already
be fitted, with one exception: an *unfitted* ``StandardScaler`` is fitted federatedly from the
participants' per-feature sums, sums of squares and counts (`ScalerStats`), which gives exactly
the scaler a centralised fit on the union of their data would give, while each participant
reveals only three aggregates per feature (and under secure aggregation only their sum). Any
other transformer is shipped fitted by the data scientist (e.g. on its own validation data).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from insitu.federated.errors import UnsupportedEstimatorError

Params = list[np.ndarray]
"""A model's learnable parameters, in the layout described in the module docstring."""

LINEAR_TYPES = (SGDClassifier, LogisticRegression)


def final_estimator(estimator: BaseEstimator) -> BaseEstimator:
    """Return the estimator that holds the learnable parameters (a Pipeline's last step)."""
    est = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if isinstance(est, SGDClassifier):
        if est.loss != "log_loss":
            raise UnsupportedEstimatorError(
                f"SGDClassifier(loss={est.loss!r}) is not supported: federated training "
                "optimises the logistic loss; use SGDClassifier(loss='log_loss')."
            )
        return est
    if isinstance(est, LogisticRegression | MLPClassifier):
        return est
    raise UnsupportedEstimatorError(
        f"{type(est).__name__} cannot be trained federatedly; use SGDClassifier(loss='log_loss'), "
        "LogisticRegression or MLPClassifier (optionally as the last step of a Pipeline)."
    )


def is_linear(estimator: BaseEstimator) -> bool:
    """True when the final estimator is a linear model (SGDClassifier or LogisticRegression)."""
    return isinstance(final_estimator(estimator), LINEAR_TYPES)


def _n_outputs(n_classes: int) -> int:
    if n_classes < 2:
        raise UnsupportedEstimatorError(
            f"Need at least two classes, got {n_classes}; pass every class of the task "
            "(e.g. classes=[0, 1]) even if a participant holds only one."
        )
    return 1 if n_classes == 2 else n_classes


def init_params(
    estimator: BaseEstimator, n_features: int, classes: Sequence[int], seed: int = 0
) -> Params:
    """The initial global model: zeros for linear models, Glorot-uniform for MLPs.

    Deterministic in `seed` so that anyone can recompute the starting point of a session.
    """
    est = final_estimator(estimator)
    k = _n_outputs(len(classes))
    if isinstance(est, LINEAR_TYPES):
        return [np.zeros((k, n_features)), np.zeros(k)]
    assert isinstance(est, MLPClassifier)
    hidden = est.hidden_layer_sizes
    hidden_list = list(hidden) if hasattr(hidden, "__iter__") else [int(hidden)]
    units = [n_features, *hidden_list, k]
    # Same scheme as sklearn's MLP so that federated and local training start alike.
    factor = 2.0 if est.activation == "logistic" else 6.0
    rng = np.random.default_rng(seed)
    coefs: Params = []
    intercepts: Params = []
    for fan_in, fan_out in itertools.pairwise(units):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return coefs + intercepts


def get_params(estimator: BaseEstimator) -> Params:
    """Copy the learnable parameters out of a fitted estimator."""
    est = final_estimator(estimator)
    try:
        check_is_fitted(est)
    except NotFittedError as exc:
        raise UnsupportedEstimatorError(
            f"{type(est).__name__} is not fitted; call set_params(estimator, init_params(...), "
            "classes) first."
        ) from exc
    if isinstance(est, LINEAR_TYPES):
        return [np.array(est.coef_, dtype=float), np.array(est.intercept_, dtype=float)]
    assert isinstance(est, MLPClassifier)
    return [np.array(p, dtype=float) for p in (*est.coefs_, *est.intercepts_)]


def _check_layout(params: Params, expected: Sequence[tuple[int, ...]]) -> None:
    got = [p.shape for p in params]
    if got != list(expected):
        raise UnsupportedEstimatorError(
            f"Parameter shapes {got} do not match the estimator's {list(expected)}; the update "
            "was produced for another model or number of features/classes."
        )


def set_params(estimator: BaseEstimator, params: Params, classes: Sequence[int]) -> BaseEstimator:
    """Load `params` into `estimator` (in place) so that it predicts, and return it.

    Works on an unfitted estimator: the attributes sklearn sets in `fit` are set here, so
    `predict_proba`, `decision_function` and (for SGD/MLP) `partial_fit` work afterwards.
    """
    est = final_estimator(estimator)
    classes_arr = np.asarray(classes)
    k = _n_outputs(len(classes_arr))
    n_features = params[0].shape[1] if isinstance(est, LINEAR_TYPES) else params[0].shape[0]
    if isinstance(est, LINEAR_TYPES):
        _check_layout(params, [(k, n_features), (k,)])
        est.coef_ = np.array(params[0], dtype=float)
        est.intercept_ = np.array(params[1], dtype=float)
        est.classes_ = classes_arr
        est.n_features_in_ = n_features
        if isinstance(est, LogisticRegression):
            est.n_iter_ = np.zeros(1, dtype=np.int32)
        return estimator
    assert isinstance(est, MLPClassifier)
    n_layers = len(params) // 2
    hidden = est.hidden_layer_sizes
    hidden_list = list(hidden) if hasattr(hidden, "__iter__") else [int(hidden)]
    units = [n_features, *hidden_list, k]
    _check_layout(
        params,
        [(a, b) for a, b in itertools.pairwise(units)] + [(b,) for b in units[1:]],
    )
    binarizer = LabelBinarizer().fit(classes_arr)
    est._label_binarizer = binarizer
    est.classes_ = binarizer.classes_
    est.n_features_in_ = n_features
    est.n_outputs_ = k
    est.n_layers_ = len(units)
    est.out_activation_ = "logistic" if k == 1 else "softmax"
    est.coefs_ = [np.array(p, dtype=float) for p in params[:n_layers]]
    est.intercepts_ = [np.array(p, dtype=float) for p in params[n_layers:]]
    est.n_iter_ = 0
    est.t_ = 0
    est.loss_curve_ = []
    est._no_improvement_count = 0
    est.best_loss_ = np.inf
    est.validation_scores_ = None
    est.best_validation_score_ = None
    est._best_coefs = [c.copy() for c in est.coefs_]
    est._best_intercepts = [c.copy() for c in est.intercepts_]
    # A stale optimiser would carry Adam moments from another round or participant.
    if hasattr(est, "_optimizer"):
        del est._optimizer
    return estimator


def build_model(template: BaseEstimator, params: Params, classes: Sequence[int]) -> BaseEstimator:
    """A fresh copy of `template` (fitted preprocessing kept) holding `params`."""
    if isinstance(template, Pipeline):
        # clone() would drop the fitted preprocessing: copy the steps, clone only the last one.
        steps = [*template.steps[:-1], (template.steps[-1][0], clone(template.steps[-1][1]))]
        model: BaseEstimator = Pipeline(steps)
    else:
        model = clone(template)
    return set_params(model, params, classes)


def flatten(params: Params) -> np.ndarray:
    """All parameters as one float vector (layout order)."""
    return np.concatenate([np.ravel(p) for p in params]).astype(float)


def unflatten(vector: np.ndarray, like: Params) -> Params:
    """Split a flat vector back into arrays shaped like `like`."""
    sizes = [p.size for p in like]
    if vector.size != sum(sizes):
        raise UnsupportedEstimatorError(
            f"Vector of {vector.size} values does not fit a model of {sum(sizes)} parameters."
        )
    out: Params = []
    offset = 0
    for p, size in zip(like, sizes, strict=True):
        out.append(np.asarray(vector[offset : offset + size], dtype=float).reshape(p.shape))
        offset += size
    return out


# ---------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class ScalerStats:
    """What a participant reveals to fit a shared StandardScaler: count, Σx and Σx² per feature."""

    n: int
    sum: np.ndarray
    sum_sq: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray) -> ScalerStats:
        """The statistics of a participant's local feature matrix."""
        X = np.asarray(X, dtype=float)
        return cls(n=int(X.shape[0]), sum=X.sum(axis=0), sum_sq=(X * X).sum(axis=0))


def fit_scaler_from_stats(scaler: StandardScaler, stats: Sequence[ScalerStats]) -> StandardScaler:
    """Fit `scaler` (in place) as if on the union of the participants' data."""
    if not stats:
        raise UnsupportedEstimatorError("No participant statistics to fit the scaler from.")
    n = sum(s.n for s in stats)
    total = np.sum([s.sum for s in stats], axis=0)
    total_sq = np.sum([s.sum_sq for s in stats], axis=0)
    mean = total / n
    # Population variance, as StandardScaler computes it; clipped against rounding below 0.
    var = np.maximum(total_sq / n - mean * mean, 0.0)
    scaler.n_features_in_ = mean.shape[0]
    scaler.n_samples_seen_ = n
    scaler.mean_ = mean if scaler.with_mean else None
    scaler.var_ = var if scaler.with_std else None
    if scaler.with_std:
        scale = np.sqrt(var)
        scale[scale < 10 * np.finfo(float).eps] = 1.0
        scaler.scale_ = scale
    else:
        scaler.scale_ = None
    return scaler


def federated_preprocessing_steps(estimator: BaseEstimator) -> list[str]:
    """Names of the Pipeline steps that still need a federated fit (unfitted StandardScalers).

    Raises when a preprocessing step is unfitted and cannot be fitted federatedly.
    """
    if not isinstance(estimator, Pipeline):
        return []
    pending: list[str] = []
    for name, step in estimator.steps[:-1]:
        if step in (None, "passthrough"):
            continue
        try:
            check_is_fitted(step)
        except NotFittedError as exc:
            if isinstance(step, StandardScaler):
                pending.append(name)
                continue
            raise UnsupportedEstimatorError(
                f"Pipeline step {name!r} ({type(step).__name__}) is not fitted and cannot be "
                "fitted federatedly; fit it on your own validation data before the session."
            ) from exc
    return pending


def transform_features(estimator: BaseEstimator, X: np.ndarray) -> np.ndarray:
    """Apply a Pipeline's (fitted) preprocessing to X; identity for a bare estimator."""
    if not isinstance(estimator, Pipeline) or len(estimator.steps) == 1:
        return np.asarray(X, dtype=float)
    return np.asarray(estimator[:-1].transform(X), dtype=float)
