"""Datasets for the federated demo and benchmarks.

* `synthetic_fraud`: SYNTHETIC card transactions for several banks (generated, not real).
  Legitimate transactions share one distribution; each bank mostly sees its own *fraud
  pattern* (online spree, card testing, skimmed card abroad, account takeover), so a model
  trained on one bank misses the others' fraud while a federated model learns them all. One
  bank has noisy labels (missed frauds and false alarms). The data scientist's validation
  set and the held-out test set mix the patterns like the banks' population does.
* `split_frame` / `load_csv_split`: split a user's table (e.g. the public `creditcard.csv`
  with its `Class` target) across banks non-IID.
* `breast_cancer_split`: scikit-learn's bundled breast-cancer data (real, offline) split
  non-IID across participants.

Non-IID splits: rows are clustered with k-means on the standardised features (one cluster per
participant) and each cluster's rows are dealt to participants with Dirichlet(alpha)
proportions, so every participant is skewed toward one region of feature space (small alpha
= more skew).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer

from insitu.federated.errors import FederatedError

MERCHANT_CATEGORIES = (
    "grocery",
    "restaurant",
    "fuel",
    "travel",
    "electronics",
    "jewelry",
    "digital_goods",
    "other",
)
_LEGIT_MCC_P = (0.28, 0.22, 0.12, 0.05, 0.07, 0.02, 0.08, 0.16)
FRAUD_PATTERNS = ("online_spree", "card_testing", "skimmed_abroad", "account_takeover")


@dataclass
class FederatedDataset:
    """Per-participant training frames, the data scientist's validation set and a test set."""

    participants: dict[str, pd.DataFrame]
    validation: pd.DataFrame
    test: pd.DataFrame
    target: str
    features: list[str]
    categorical: list[str] = field(default_factory=list)
    description: str = ""

    def xy(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Features and integer target of one frame."""
        return frame[self.features], frame[self.target].to_numpy(dtype=int)

    def pooled(self) -> pd.DataFrame:
        """All participants' rows together (the centralised baseline; never built in a session)."""
        return pd.concat(list(self.participants.values()), ignore_index=True)


# ------------------------------------------------------------------ synthetic card fraud


def _legit(n: int, rng: np.random.Generator) -> pd.DataFrame:
    card_present = rng.random(n) < 0.7
    return pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3.4, 0.9, n), 2),
            "hour": np.clip(np.rint(rng.normal(14.5, 4.0, n)), 0, 23).astype(int),
            "merchant_category": rng.choice(MERCHANT_CATEGORIES, n, p=_LEGIT_MCC_P),
            "distance_from_home_km": np.round(rng.exponential(8.0, n), 1),
            "card_present": card_present.astype(int),
            "online": (~card_present & (rng.random(n) < 0.9)).astype(int),
            "foreign": (rng.random(n) < 0.03).astype(int),
            "txn_count_24h": rng.poisson(3.0, n),
            "amount_to_avg_ratio": np.round(rng.lognormal(0.0, 0.35, n), 3),
            "account_age_days": rng.integers(30, 3650, n),
            "declined_24h": rng.poisson(0.1, n),
        }
    )


def _fraud(n: int, pattern: int, rng: np.random.Generator) -> pd.DataFrame:
    # A fraud looks legitimate except for its pattern's signature, each trait present with
    # probability ~0.8 so that no single feature separates it perfectly.
    df = _legit(n, rng)

    def some(values: np.ndarray | float, column: str, p: float = 0.8) -> None:
        hit = rng.random(n) < p
        df.loc[hit, column] = np.asarray(values)[hit] if np.ndim(values) else values

    if pattern == 0:  # card-not-present online spree on electronics
        some(1, "online")
        some(0, "card_present")
        some(np.round(rng.lognormal(5.3, 0.6, n), 2), "amount")
        some(np.round(rng.lognormal(1.3, 0.4, n), 3), "amount_to_avg_ratio")
        some("electronics", "merchant_category", 0.6)
    elif pattern == 1:  # card testing: many tiny night-time charges
        some(rng.poisson(14.0, n), "txn_count_24h")
        some(np.round(rng.lognormal(0.8, 0.5, n), 2), "amount")
        some(rng.integers(0, 6, n), "hour")
        some("digital_goods", "merchant_category", 0.6)
    elif pattern == 2:  # skimmed card used in person, far away, abroad
        some(1, "foreign")
        some(np.round(rng.lognormal(6.5, 0.8, n), 1), "distance_from_home_km")
        some(1, "card_present")
        some("jewelry", "merchant_category", 0.5)
    else:  # account takeover: young account, declines, unusual amounts
        some(rng.integers(0, 45, n), "account_age_days")
        some(rng.poisson(3.0, n) + 1, "declined_24h")
        some(np.round(rng.lognormal(1.0, 0.4, n), 3), "amount_to_avg_ratio")
    df["card_present"] = np.where(df["online"] == 1, 0, df["card_present"])
    return df


def _population(
    n: int, fraud_rate: float, pattern_mix: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    n_fraud = rng.binomial(n, fraud_rate)
    per_pattern = rng.multinomial(n_fraud, pattern_mix)
    parts = [_legit(n - n_fraud, rng).assign(Class=0, pattern=-1)]
    for k, m in enumerate(per_pattern):
        if m:
            parts.append(_fraud(int(m), k, rng).assign(Class=1, pattern=k))
    frame = pd.concat(parts, ignore_index=True)
    return frame.sample(frac=1.0, random_state=int(rng.integers(2**31))).reset_index(drop=True)


def synthetic_fraud(
    n_banks: int = 4,
    rows_per_bank: int = 20_000,
    validation_rows: int = 10_000,
    test_rows: int = 40_000,
    noisy_bank: int | None = -1,
    label_noise: float = 0.5,
    own_pattern_share: float = 0.9,
    seed: int = 0,
) -> FederatedDataset:
    """SYNTHETIC credit-card transactions split across `n_banks` banks.

    Bank b's frauds follow pattern ``b mod 4`` with probability `own_pattern_share`, the
    others otherwise; bank sizes vary ±30 % and fraud rates lie in 0.6–1.6 %. In the
    `noisy_bank` (index, -1 = last, None = none) a fraction `label_noise` of the frauds is
    labelled legitimate and as many legitimate rows are labelled fraud. Deterministic in
    `seed`. Columns: the features, `Class` (1 = fraud) and `pattern` (-1 = legitimate; for
    analysis only, not a feature).
    """
    if n_banks < 1:
        raise FederatedError("n_banks must be at least 1.")
    rng = np.random.default_rng(seed)
    k = len(FRAUD_PATTERNS)
    banks: dict[str, pd.DataFrame] = {}
    mixes = []
    noisy = None if noisy_bank is None else noisy_bank % n_banks
    for b in range(n_banks):
        mix = np.full(k, (1 - own_pattern_share) / (k - 1))
        mix[b % k] = own_pattern_share
        mixes.append(mix)
        n = int(rows_per_bank * rng.uniform(0.7, 1.3))
        frame = _population(n, float(rng.uniform(0.006, 0.016)), mix, rng)
        if b == noisy:
            frame = _flip_labels(frame, label_noise, rng)
        banks[f"bank_{b}"] = frame
    population_mix = np.mean(mixes, axis=0)
    validation = _population(validation_rows, 0.01, population_mix, rng)
    test = _population(test_rows, 0.01, population_mix, rng)
    features = [c for c in validation.columns if c not in ("Class", "pattern")]
    return FederatedDataset(
        participants=banks,
        validation=validation,
        test=test,
        target="Class",
        features=features,
        categorical=["merchant_category"],
        description=(
            f"SYNTHETIC card transactions: {n_banks} banks, fraud patterns "
            f"{', '.join(FRAUD_PATTERNS)} (bank b mostly pattern b mod 4), "
            + (f"bank_{noisy} with {label_noise:.0%} label noise, " if noisy is not None else "")
            + f"seed {seed}."
        ),
    )


def _flip_labels(frame: pd.DataFrame, rate: float, rng: np.random.Generator) -> pd.DataFrame:
    # Missed frauds and as many false alarms: the label noise of a bank whose
    # chargeback process is unreliable.
    frame = frame.copy()
    fraud_idx = np.flatnonzero(frame["Class"].to_numpy() == 1)
    legit_idx = np.flatnonzero(frame["Class"].to_numpy() == 0)
    m = round(rate * len(fraud_idx))
    frame.loc[rng.choice(fraud_idx, m, replace=False), "Class"] = 0
    frame.loc[rng.choice(legit_idx, m, replace=False), "Class"] = 1
    return frame


# ------------------------------------------------------------------ non-IID splits of real data


def split_frame(
    frame: pd.DataFrame,
    target: str,
    n_participants: int = 4,
    alpha: float = 0.5,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.25,
    seed: int = 0,
    prefix: str = "bank",
) -> FederatedDataset:
    """Split a labelled table into non-IID participants plus validation and test sets.

    Validation and test are stratified random samples (the data scientist's own data and
    the held-out data); the rest is dealt non-IID (see the module docstring).
    """
    if target not in frame.columns:
        raise FederatedError(
            f"Target column {target!r} not in the table; columns are {list(frame.columns)}."
        )
    rng = np.random.default_rng(seed)
    frame = frame.reset_index(drop=True)
    y = frame[target].to_numpy()
    features = [c for c in frame.columns if c != target]
    numeric = frame[features].select_dtypes(include="number")
    if numeric.shape[1] != len(features):
        raise FederatedError("split_frame needs numeric feature columns; encode categories first.")
    held = np.zeros(len(frame), dtype=int)  # 0 train, 1 validation, 2 test
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_val = round(validation_fraction * len(idx))
        n_test = round(test_fraction * len(idx))
        held[idx[:n_val]] = 1
        held[idx[n_val : n_val + n_test]] = 2
    train_idx = np.flatnonzero(held == 0)
    X = numeric.to_numpy(dtype=float)[train_idx]
    X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    clusters = KMeans(n_participants, n_init=3, random_state=seed).fit_predict(X)
    owner = np.empty(len(train_idx), dtype=int)
    for c in range(n_participants):
        members = rng.permutation(np.flatnonzero(clusters == c))
        share = rng.dirichlet(np.full(n_participants, alpha))
        # Cluster c leans to participant c: its largest share goes there.
        share = np.roll(np.sort(share)[::-1], c)
        cuts = (np.cumsum(share)[:-1] * len(members)).astype(int)
        for p, part in enumerate(np.split(members, cuts)):
            owner[part] = p
    participants = {
        f"{prefix}_{p}": frame.iloc[train_idx[owner == p]].reset_index(drop=True)
        for p in range(n_participants)
    }
    empty = [name for name, df in participants.items() if df.empty]
    if empty:
        raise FederatedError(f"{empty} got no rows; use fewer participants or a larger alpha.")
    return FederatedDataset(
        participants=participants,
        validation=frame[held == 1].reset_index(drop=True),
        test=frame[held == 2].reset_index(drop=True),
        target=target,
        features=features,
        description=f"{n_participants} non-IID participants (k-means + Dirichlet({alpha})), "
        f"seed {seed}.",
    )


def load_csv_split(
    path: str | Path, target: str = "Class", n_banks: int = 4, **options: float | int
) -> FederatedDataset:
    """Read a CSV (e.g. the public creditcard.csv) and split it across banks non-IID."""
    path = Path(path)
    if not path.is_file():
        raise FederatedError(
            f"No CSV at {path}; pass the path of a table with a {target!r} column."
        )
    frame = pd.read_csv(path)
    dataset = split_frame(frame, target, n_participants=n_banks, **options)  # type: ignore[arg-type]
    dataset.description = f"{path.name}: " + dataset.description
    return dataset


def breast_cancer_split(
    n_participants: int = 4, alpha: float = 0.5, seed: int = 0
) -> FederatedDataset:
    """scikit-learn's bundled breast-cancer data (real, ships offline) split non-IID."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "malignant"})
    # sklearn codes malignant as 0; flip so that the positive class is the one to detect.
    frame["malignant"] = 1 - frame["malignant"]
    dataset = split_frame(
        frame,
        "malignant",
        n_participants=n_participants,
        alpha=alpha,
        validation_fraction=0.2,
        test_fraction=0.25,
        seed=seed,
        prefix="hospital",
    )
    dataset.description = "breast_cancer (sklearn, real): " + dataset.description
    return dataset
