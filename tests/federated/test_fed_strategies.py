"""Aggregation rules, round closing and local training (FedProx's pull)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier

from insitu.federated.client import Update, local_update
from insitu.federated.errors import RoundFailedError
from insitu.federated.params import init_params
from insitu.federated.strategies import FedAdam, FedAvg, FedAvgM, FedProx, close_round


def _upd(w: list[float], b: float, n: int) -> Update:
    return Update(params=[np.array([w]), np.array([b])], n_samples=n)


def test_fedavg_weights_by_samples_hand_computed() -> None:
    updates = [_upd([1.0, 0.0], 2.0, 10), _upd([4.0, 3.0], -1.0, 30)]
    new = FedAvg().aggregate([np.zeros((1, 2)), np.zeros(1)], updates)
    # (10*1 + 30*4)/40 = 3.25, (10*0 + 30*3)/40 = 2.25, (10*2 - 30)/40 = -0.25
    np.testing.assert_allclose(new[0], [[3.25, 2.25]])
    np.testing.assert_allclose(new[1], [-0.25])


def test_fedavgm_step_and_reduction_to_fedavg() -> None:
    g = [np.array([[1.0]]), np.array([0.0])]
    ups = [_upd([0.0], 1.0, 1)]
    s = FedAvgM(server_lr=0.5, beta=0.9)
    s.initialize(g)
    first = s.aggregate(g, ups)  # d = g - avg = [1, -1]; v = d; w = g - 0.5 d
    np.testing.assert_allclose(first[0], [[0.5]])
    np.testing.assert_allclose(first[1], [0.5])
    second = s.aggregate(first, ups)  # d = [0.5, -0.5]; v = 0.9*[1,-1] + d = [1.4, -1.4]
    np.testing.assert_allclose(second[0], [[0.5 - 0.7]])
    plain = FedAvgM(server_lr=1.0, beta=0.0)
    plain.initialize(g)
    np.testing.assert_allclose(plain.aggregate(g, ups)[0], FedAvg().aggregate(g, ups)[0])


def test_fedadam_step() -> None:
    g = [np.array([[0.0]]), np.array([0.0])]
    s = FedAdam(server_lr=0.1, beta1=0.9, beta2=0.99, tau=1e-3)
    s.initialize(g)
    new = s.aggregate(g, [_upd([2.0], -2.0, 5)])
    # Δ = 2; m = 0.2; v = 0.99*1e-6 + 0.01*4; w = 0.1*m/(sqrt(v)+tau)
    m, v = 0.2, 0.99e-6 + 0.04
    np.testing.assert_allclose(new[0], [[0.1 * m / (np.sqrt(v) + 1e-3)]])
    np.testing.assert_allclose(new[1], [-0.1 * m / (np.sqrt(v) + 1e-3)])


def test_fedprox_configures_mu() -> None:
    assert FedProx(mu=0.3).configure_fit(2)["fedprox_mu"] == 0.3
    assert "fedprox_mu" not in FedAvg().configure_fit(2)


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 4))
    y = (X @ np.array([2.0, -1.0, 0.5, 0.0]) + rng.normal(size=400) > 0).astype(int)
    return X, y


@pytest.mark.parametrize(
    "estimator",
    [SGDClassifier(loss="log_loss"), LogisticRegression(), MLPClassifier(hidden_layer_sizes=(5,))],
    ids=lambda e: type(e).__name__,
)
def test_fedprox_pulls_toward_global(estimator) -> None:
    X, y = _data()
    g = init_params(estimator, 4, [0, 1], seed=0)
    dist = []
    for mu in (0.0, 1.0, 10.0):
        u = local_update(g, estimator, X, y, [0, 1], epochs=3, fedprox_mu=mu, seed=1)
        moved = [(p - q).ravel() for p, q in zip(u.params, g, strict=True)]
        dist.append(np.linalg.norm(np.concatenate(moved)))
    assert dist[0] > dist[1] > dist[2] > 0


def test_local_training_lowers_loss_and_reports_samples() -> None:
    X, y = _data()
    est = LogisticRegression()
    u = local_update(init_params(est, 4, [0, 1]), est, X, y, [0, 1], epochs=2)
    assert u.n_samples == 400
    assert u.metrics["train_loss_after"] < u.metrics["train_loss_before"] - 0.1


def test_round_completes_with_answered_and_fails_below_minimum() -> None:
    ups = {"a": _upd([1.0], 0.0, 1), "c": _upd([1.0], 0.0, 1), "z": _upd([1.0], 0.0, 1)}
    out = close_round(3, ["a", "b", "c"], ups, min_participants=2)
    assert out.included == ("a", "c") and out.dropped == ("b",)
    with pytest.raises(RoundFailedError, match="minimum 3"):
        close_round(3, ["a", "b", "c"], ups, min_participants=3)
