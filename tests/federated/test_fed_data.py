"""Demo datasets: deterministic, realistic fraud rates, per-bank patterns, non-IID splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from insitu.federated.data import (
    breast_cancer_split,
    load_csv_split,
    synthetic_fraud,
)
from insitu.federated.errors import FederatedError


def test_synthetic_fraud_is_deterministic_with_bank_specific_patterns() -> None:
    a = synthetic_fraud(rows_per_bank=3000, validation_rows=2000, test_rows=2000, seed=5)
    b = synthetic_fraud(rows_per_bank=3000, validation_rows=2000, test_rows=2000, seed=5)
    assert list(a.participants) == ["bank_0", "bank_1", "bank_2", "bank_3"]
    for name in a.participants:
        pd.testing.assert_frame_equal(a.participants[name], b.participants[name])
    for i, (name, df) in enumerate(a.participants.items()):
        assert 0.002 <= df.Class.mean() <= 0.02, name
        frauds = df[df.pattern >= 0]
        # Each clean bank's true frauds mostly follow its own pattern.
        assert (frauds.pattern == i).mean() > 0.7
    noisy = a.participants["bank_3"]
    # Label noise: labelled frauds that are legitimate, and true frauds labelled legitimate.
    assert ((noisy.Class == 1) & (noisy.pattern == -1)).sum() > 0
    assert ((noisy.Class == 0) & (noisy.pattern >= 0)).sum() > 0
    clean = a.participants["bank_0"]
    assert ((clean.Class == 1) == (clean.pattern >= 0)).all()
    assert set(a.features) >= {"amount", "hour", "merchant_category", "distance_from_home_km"}


def test_csv_split_is_non_iid_and_complete(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame(
        {"V1": rng.normal(size=n), "V2": rng.normal(size=n), "Amount": rng.lognormal(3, 1, n)}
    )
    frame["Class"] = (rng.random(n) < 0.02).astype(int)
    path = tmp_path / "creditcard.csv"
    frame.to_csv(path, index=False)
    ds = load_csv_split(path, n_banks=4, alpha=0.3, seed=1)
    total = sum(len(df) for df in ds.participants.values()) + len(ds.validation) + len(ds.test)
    assert total == n
    means = np.array([df["V1"].mean() for df in ds.participants.values()])
    assert means.max() - means.min() > 0.3  # feature skew across banks
    with pytest.raises(FederatedError, match="Target column"):
        load_csv_split(path, target="fraud")


def test_breast_cancer_split_has_both_classes_in_val_and_test() -> None:
    ds = breast_cancer_split(n_participants=5, seed=0)
    assert ds.target == "malignant" and len(ds.participants) == 5
    assert ds.validation.malignant.nunique() == 2 and ds.test.malignant.nunique() == 2
