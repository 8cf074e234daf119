"""Private predictions equal scikit-learn's on the bundled datasets."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from insitu.mpc import (
    Buyer,
    MaterialMismatch,
    ModelOwner,
    ProtocolAbort,
    UnsupportedModel,
    prepare_material,
    run_two_party,
    share_model,
)


@functools.cache
def cancer() -> tuple[np.ndarray, np.ndarray]:
    return load_breast_cancer(return_X_y=True)


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x[:600], y[:600]


@functools.cache
def fitted(name: str) -> tuple[Any, np.ndarray]:
    x, y = cancer()
    xd, yd = digits()
    models = {
        "lr_binary": lambda: (make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y), x),
        "svc_binary": lambda: (make_pipeline(StandardScaler(), LinearSVC()).fit(x, y), x),
        "mlp_binary": lambda: (
            make_pipeline(
                StandardScaler(), MLPClassifier((16,), max_iter=1000, random_state=0)
            ).fit(x, y),
            x,
        ),
        "lr_digits": lambda: (LogisticRegression(max_iter=3000).fit(xd, yd), xd),
        "svc_digits": lambda: (LinearSVC().fit(xd / 16, yd), xd / 16),
        "mlp_digits": lambda: (
            MLPClassifier((32,), max_iter=500, random_state=0).fit(xd, yd),
            xd,
        ),
    }
    return models[name]()


def private_predict(model: Any, rows: np.ndarray, mode: str) -> np.ndarray:
    secret = share_model(model)
    material = prepare_material(secret.architecture, len(rows), mode)
    report, result, _ = run_two_party(
        lambda c: ModelOwner(secret).serve(c, material.owner),
        lambda c: Buyer(rows).predict(c, mode, material.buyer),
        timeout=20,
    )
    assert len(report.commitment) == 64
    return result


ALL = ["lr_binary", "svc_binary", "mlp_binary", "lr_digits", "svc_digits", "mlp_digits"]


@pytest.mark.parametrize("name", ALL)
def test_labels_identical(name: str) -> None:
    model, rows = fitted(name)
    assert np.array_equal(private_predict(model, rows, "labels"), model.predict(rows))


@pytest.mark.parametrize("name", ["lr_binary", "svc_binary", "lr_digits", "svc_digits"])
def test_linear_scores_within_1e_4(name: str) -> None:
    model, rows = fitted(name)
    got = private_predict(model, rows, "scores")
    assert np.abs(got - model.decision_function(rows)).max() <= 1e-4


@pytest.mark.parametrize("name", ["lr_binary", "mlp_binary"])
def test_probabilities_within_1e_3(name: str) -> None:
    model, rows = fitted(name)
    got = private_predict(model, rows, "proba")
    assert np.abs(got - model.predict_proba(rows)).max() <= 1e-3


def test_mlp_logits_match_plaintext_forward_pass() -> None:
    model, rows = fitted("mlp_digits")
    hidden = np.maximum(rows @ model.coefs_[0] + model.intercepts_[0], 0)
    logits = hidden @ model.coefs_[1] + model.intercepts_[1]
    assert np.abs(private_predict(model, rows, "scores") - logits).max() <= 1e-3


def test_linear_regression_scores() -> None:
    x, _ = cancer()
    target = x[:, :3] @ np.array([0.5, -1.0, 0.01]) + 2.0
    model = LinearRegression().fit(x[:, 3:10], target)
    got = private_predict(model, x[:, 3:10], "scores")
    assert np.abs(got - model.predict(x[:, 3:10])).max() <= 1e-4


def test_unsupported_mode_and_model() -> None:
    model, _ = fitted("lr_digits")
    with pytest.raises(UnsupportedModel, match="proba"):
        share_model(model).architecture.check_mode("proba")
    with pytest.raises(UnsupportedModel, match="not supported"):
        share_model(StandardScaler().fit(cancer()[0]))


def test_material_for_another_plan_aborts_both_sides() -> None:
    model, rows = fitted("lr_binary")
    secret = share_model(model)
    material = prepare_material(secret.architecture, len(rows) - 1, "labels")
    with pytest.raises((MaterialMismatch, ProtocolAbort)):
        run_two_party(
            lambda c: ModelOwner(secret).serve(c, material.owner),
            lambda c: Buyer(rows).predict(c, "labels", material.buyer),
            timeout=5,
        )
