"""Parameter extraction/loading for every supported estimator, and federated preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from insitu.federated.errors import UnsupportedEstimatorError
from insitu.federated.params import (
    ScalerStats,
    build_model,
    federated_preprocessing_steps,
    fit_scaler_from_stats,
    flatten,
    get_params,
    init_params,
    set_params,
    unflatten,
)

ESTIMATORS = [
    SGDClassifier(loss="log_loss"),
    LogisticRegression(),
    MLPClassifier(hidden_layer_sizes=(6, 3)),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("classes", [[0, 1], [0, 1, 2]])
def test_round_trip_and_predictions_match_the_params(estimator, classes) -> None:
    rng = np.random.default_rng(1)
    params = [p + rng.normal(size=p.shape) for p in init_params(estimator, 5, classes, seed=3)]
    model = build_model(estimator, params, classes)
    back = get_params(model)
    assert all(np.array_equal(a, b) for a, b in zip(params, back, strict=True))
    vec = flatten(params)
    assert all(np.array_equal(a, b) for a, b in zip(params, unflatten(vec, params), strict=True))
    X = rng.normal(size=(30, 5))
    proba = model.predict_proba(X)
    assert proba.shape == (30, len(classes))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    if not isinstance(estimator, MLPClassifier) and len(classes) == 2:
        # The loaded coefficients are the ones predicting: compare with the logistic by hand.
        expected = 1 / (1 + np.exp(-(X @ params[0][0] + params[1][0])))
        np.testing.assert_allclose(proba[:, 1], expected, rtol=1e-10)


def test_same_seed_same_initial_model_for_everyone() -> None:
    mlp = MLPClassifier(hidden_layer_sizes=(4,))
    a, b = init_params(mlp, 3, [0, 1], seed=7), init_params(mlp, 3, [0, 1], seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], init_params(mlp, 3, [0, 1], seed=8)[0])


def test_mlp_partial_fit_continues_from_loaded_params() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    params = init_params(est, 3, [0, 1], seed=1)
    model = build_model(est, params, [0, 1])
    model.partial_fit(X, y)
    after = get_params(model)
    moved = [np.abs(a - p).max() for a, p in zip(after, params, strict=True)]
    assert all(0 < m < 0.1 for m in moved)  # one small step from the loaded weights


def test_unsupported_estimators_say_what_to_use() -> None:
    with pytest.raises(UnsupportedEstimatorError, match="log_loss"):
        init_params(SGDClassifier(), 3, [0, 1])
    with pytest.raises(UnsupportedEstimatorError, match="LogisticRegression"):
        init_params(LinearRegression(), 3, [0, 1])
    with pytest.raises(UnsupportedEstimatorError, match="shapes"):
        set_params(LogisticRegression(), [np.zeros((1, 3)), np.zeros(2)], [0, 1])
    with pytest.raises(UnsupportedEstimatorError, match="two classes"):
        init_params(LogisticRegression(), 3, [1])


def test_federated_scaler_equals_centralised_fit() -> None:
    rng = np.random.default_rng(2)
    parts = [rng.normal(loc=i, scale=i + 1, size=(50 + 10 * i, 4)) for i in range(3)]
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    assert federated_preprocessing_steps(pipe) == ["scale"]
    fit_scaler_from_stats(pipe.named_steps["scale"], [ScalerStats.of(p) for p in parts])
    central = StandardScaler().fit(np.vstack(parts))
    np.testing.assert_allclose(pipe.named_steps["scale"].mean_, central.mean_)
    np.testing.assert_allclose(pipe.named_steps["scale"].scale_, central.scale_)
    assert federated_preprocessing_steps(pipe) == []


def test_unfitted_non_scaler_preprocessing_is_refused() -> None:
    pipe = Pipeline([("mm", MinMaxScaler()), ("clf", LogisticRegression())])
    with pytest.raises(UnsupportedEstimatorError, match="validation data"):
        federated_preprocessing_steps(pipe)
