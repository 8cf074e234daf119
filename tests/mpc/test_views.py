"""What each party receives is uniform and independent of the other party's secrets."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from insitu.mpc import Buyer, ModelOwner, prepare_material, run_two_party, share_model
from insitu.mpc.transport import Channel


def views(model: object, rows: np.ndarray, mode: str) -> tuple[bytes, bytes]:
    """The protocol payloads each party received, minus the plan messages and the output."""
    secret = share_model(model)
    material = prepare_material(secret.architecture, len(rows), mode)
    seen: dict[int, list[bytes]] = {0: [], 1: []}

    def recording(channel: Channel, role: int) -> Channel:
        original = channel.recv

        def recv() -> bytes:
            payload = original()
            seen[role].append(payload)
            return payload

        channel.recv = recv  # type: ignore[method-assign]
        return channel

    run_two_party(
        lambda c: ModelOwner(secret).serve(recording(c, 0), material.owner),
        lambda c: Buyer(rows).predict(recording(c, 1), mode, material.buyer),
    )
    # Drop the plan exchange (first) and, for the buyer, the owner's output shares (last).
    return b"".join(seen[0][1:]), b"".join(seen[1][1:-1])


def _byte_histogram(data: bytes) -> np.ndarray:
    return np.bincount(np.frombuffer(data, np.uint8), minlength=256)


def _bit_frequencies(data: bytes) -> np.ndarray:
    words = np.frombuffer(data[: len(data) // 8 * 8], np.uint64)
    bits = (words[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    return bits.mean(axis=0)


def test_views_are_uniform_and_independent_of_secrets() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    rows_a = np.zeros_like(x)  # a degenerate secret: all zero rows
    rows_b = x * 3.0
    owner_a, buyer_a = views(model, rows_a, "labels")
    owner_b, buyer_b = views(model, rows_b, "labels")
    for view in (owner_a, owner_b, buyer_a, buyer_b):
        assert len(view) > 10_000
        assert stats.chisquare(_byte_histogram(view)).pvalue > 1e-4
        words = len(view) // 8
        assert np.abs(_bit_frequencies(view) - 0.5).max() < 5.0 / np.sqrt(words)
    # Independence: the owner's view for two very different row sets has one distribution.
    table = np.stack([_byte_histogram(owner_a), _byte_histogram(owner_b)])
    assert stats.chi2_contingency(table).pvalue > 1e-4
