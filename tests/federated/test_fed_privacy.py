"""DP: clipping bounds the update, the noise has the promised std, ε is the accountant's."""

from __future__ import annotations

import numpy as np
import pytest
from dp_accounting import dp_event
from dp_accounting.rdp import RdpAccountant

from insitu.federated.client import Update
from insitu.federated.errors import FederatedError
from insitu.federated.privacy import DPConfig, DPFedAvg, clip, epsilon, privatize_delta


def test_clip_scales_long_vectors_only() -> None:
    v, was = clip(np.array([3.0, 4.0]), 1.0)
    np.testing.assert_allclose(v, [0.6, 0.8])
    assert was
    v, was = clip(np.array([0.3, 0.4]), 1.0)
    np.testing.assert_allclose(v, [0.3, 0.4])
    assert not was


@pytest.mark.parametrize(("sigma", "q", "rounds"), [(1.1, 1.0, 20), (0.8, 0.25, 50)])
def test_epsilon_matches_accountant(sigma: float, q: float, rounds: int) -> None:
    cfg = DPConfig(clip_norm=1.0, noise_multiplier=sigma, sampling_rate=q, delta=1e-5)
    acc = RdpAccountant()
    event = dp_event.GaussianDpEvent(sigma)
    if q < 1:
        event = dp_event.PoissonSampledDpEvent(q, event)
    # Built independently: an explicit self-composition event instead of compose(count).
    acc.compose(dp_event.SelfComposedDpEvent(event, rounds))
    assert epsilon(cfg, rounds) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-12)
    assert epsilon(cfg, rounds) > epsilon(cfg, rounds // 2) > 0


def test_aggregator_noise_std_is_sigma_times_clip() -> None:
    cfg = DPConfig(clip_norm=0.5, noise_multiplier=1.3)
    strategy = DPFedAvg(cfg, expected_participants=1, seed=4)
    g = [np.zeros(100_000)]
    # The update equals the global model: only noise moves the result.
    out = strategy.aggregate(g, [Update(params=[np.zeros(100_000)], n_samples=5)])[0]
    assert np.std(out) == pytest.approx(0.65, rel=0.01)
    assert abs(np.mean(out)) < 0.01


def test_dp_fedavg_clips_each_delta() -> None:
    cfg = DPConfig(clip_norm=1.0, noise_multiplier=0.0)
    strategy = DPFedAvg(cfg, expected_participants=2)
    g = [np.zeros(2)]
    ups = [Update([np.array([30.0, 40.0])], 1000), Update([np.array([0.0, 0.5])], 1)]
    out = strategy.aggregate(g, ups)[0]
    np.testing.assert_allclose(out, [(0.6 + 0.0) / 2, (0.8 + 0.5) / 2])
    assert strategy.clipped_last_round == 1


def test_distributed_noise_shares_add_up() -> None:
    cfg = DPConfig(clip_norm=2.0, noise_multiplier=1.0)
    m = 4
    rng = np.random.default_rng(0)
    total = sum(privatize_delta(np.zeros(50_000), cfg, rng, noise_share=1 / m) for _ in range(m))
    assert np.std(total) == pytest.approx(2.0, rel=0.02)


def test_bad_config_is_refused() -> None:
    with pytest.raises(FederatedError):
        DPConfig(clip_norm=0.0, noise_multiplier=1.0)
    with pytest.raises(FederatedError):
        DPConfig(clip_norm=1.0, noise_multiplier=1.0, sampling_rate=0.0)
