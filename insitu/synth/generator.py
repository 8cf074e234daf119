"""A class-conditional Gaussian copula for mixed numeric/categorical tables.

Per class, the model is: each feature column's marginal (a histogram over fixed bins for a
numeric column, i.e. a piecewise-linear quantile function; category frequencies for a
categorical one) plus the correlation matrix of the rows' normal scores ``Phi^-1(F(x))``.
Sampling draws correlated normals, maps them through ``Phi`` and each marginal's inverse CDF.

Why a copula and not a Gaussian mixture: its released parameters are a few small vectors whose
every entry is a sum over rows of a bounded per-row quantity (one bin count, one clipped score
product), so the L2 sensitivity is known in closed form and the Gaussian mechanism applies
directly; the bins are fixed by the public schema, so nothing data-dependent (a row's value, a
fitted mean) is ever published. A GMM's EM parameters (means, covariances, responsibilities)
have data-dependent, unbounded sensitivity and need DP-EM with per-iteration noise and many
compositions. Categorical columns also fit the copula natively (as intervals of the uniform),
where a GMM would need one-hot relaxations. The cost: dependence is only pairwise-Gaussian.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from insitu.synth.errors import SchemaError
from insitu.synth.privacy import ExactRelease, Mechanism
from insitu.synth.schema import Category, Column, Schema

MODEL_KIND = "insitu.synth.gaussian_copula/v1"
DEFAULT_BINS = 32
# Row score vectors are clipped to L2 norm CLIP_FACTOR * sqrt(d) under DP: normal scores have
# E||z||^2 = d, so this clips only the tail while bounding the correlation's sensitivity by C^2.
CLIP_FACTOR = 1.5
# Scores use u in [U_EPS, 1 - U_EPS] so that Phi^-1 stays finite at the bounds.
U_EPS = 1e-4
# Added to each bin/category after noise: keeps the CDF strictly increasing (invertible).
MASS_FLOOR = 1e-9


@dataclass(frozen=True)
class ClassModel:
    """The copula of one class: its (possibly noisy) row count, marginals and correlation."""

    label: Category
    count: float
    marginals: Mapping[str, np.ndarray]
    correlation: np.ndarray


@dataclass(frozen=True)
class CopulaGenerator:
    """A fitted class-conditional Gaussian copula over a schema."""

    schema: Schema
    n_bins: int
    classes: tuple[ClassModel, ...]

    @property
    def count(self) -> float:
        """Total (noisy, under DP) number of rows the model was fitted on."""
        return float(sum(c.count for c in self.classes))

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Draw ``n`` rows in schema encoding; classes in proportion to their counts."""
        weights = np.array([max(c.count, 0.0) for c in self.classes])
        if weights.sum() <= 0:
            weights = np.ones_like(weights)
        per_class = rng.multinomial(n, weights / weights.sum())
        frames = [
            self._sample_class(model, int(k), rng)
            for model, k in zip(self.classes, per_class, strict=True)
            if k > 0
        ]
        if not frames:
            return pd.DataFrame({c.name: pd.Series(dtype=float) for c in self.schema.columns})
        out = pd.concat(frames, ignore_index=True)
        return out.iloc[rng.permutation(len(out))].reset_index(drop=True)

    def sample_class(self, k: int, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Draw ``n`` rows of the ``k``-th label category, in schema encoding."""
        return self._sample_class(self.classes[k], n, rng)

    def _sample_class(self, model: ClassModel, n: int, rng: np.random.Generator) -> pd.DataFrame:
        features = self.schema.features
        chol = np.linalg.cholesky(model.correlation + 1e-9 * np.eye(len(features)))
        u = ndtr(rng.standard_normal((n, len(features))) @ chol.T)
        out: dict[str, Any] = {}
        for j, col in enumerate(features):
            probs = model.marginals[col.name]
            if col.kind == "numeric":
                out[col.name] = _numeric_inverse_cdf(col, self.n_bins, probs, u[:, j])
            else:
                idx = np.searchsorted(np.cumsum(probs)[:-1], u[:, j], side="right")
                out[col.name] = np.asarray(col.categories, dtype=object)[idx]
        out[self.schema.label.name] = [model.label] * n
        frame = pd.DataFrame(out)[self.schema.names]
        for col in self.schema.columns:
            if col.kind != "numeric":
                frame[col.name] = _category_series(frame[col.name], col)
        return frame

    def to_dict(self) -> dict[str, Any]:
        """The published parameters: a plain JSON-serialisable object."""
        return {
            "kind": MODEL_KIND,
            "schema": self.schema.to_dict(),
            "n_bins": self.n_bins,
            "classes": [
                {
                    "label": m.label,
                    "count": _round(m.count),
                    "marginals": {k: [_round(p) for p in v] for k, v in m.marginals.items()},
                    "correlation": [[_round(x) for x in row] for row in m.correlation],
                }
                for m in self.classes
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CopulaGenerator:
        """Inverse of ``to_dict``; validates shapes so a malformed contribution fails early."""
        if data.get("kind") != MODEL_KIND:
            raise SchemaError(f"not a {MODEL_KIND} parameter object (kind={data.get('kind')!r})")
        schema = Schema.from_dict(data["schema"])
        n_bins = int(data["n_bins"])
        d = len(schema.features)
        classes = []
        for c in data["classes"]:
            corr = np.asarray(c["correlation"], dtype=float)
            if corr.shape != (d, d):
                raise SchemaError(f"correlation of class {c['label']!r} is not {d}x{d}")
            marginals = {}
            for col in schema.features:
                probs = np.asarray(c["marginals"][col.name], dtype=float)
                expected = n_bins if col.kind == "numeric" else len(col.categories)
                if probs.shape != (expected,):
                    raise SchemaError(f"marginal of {col.name!r} must have {expected} entries")
                marginals[col.name] = probs
            classes.append(ClassModel(c["label"], float(c["count"]), marginals, corr))
        return cls(schema, n_bins, tuple(classes))


def fit_copula(
    df: pd.DataFrame,
    schema: Schema,
    mechanism: Mechanism | None = None,
    n_bins: int = DEFAULT_BINS,
) -> CopulaGenerator:
    """Fit the copula on ``df`` (schema encoding), releasing statistics through ``mechanism``.

    With ``mechanism=None`` nothing is noised. Numeric values are clipped to the schema's
    bounds in either case, so the model's support is the declared one.
    """
    mechanism = mechanism or ExactRelease()
    if n_bins < 2:
        raise SchemaError(f"n_bins must be at least 2, got {n_bins}")
    df = schema.validate(df)
    features = schema.features
    d = len(features)
    label = schema.label
    labels = df[label.name].map(str).to_numpy()
    members = [labels == str(c) for c in label.categories]

    counts = mechanism.release("counts", np.array([m.sum() for m in members], float), 1.0)
    counts = np.maximum(counts, 0.0)

    exact_hists = [_histograms(df[m], features, n_bins) for m in members]
    noisy = mechanism.release("marginals", np.concatenate(exact_hists), math.sqrt(d))
    marginals = [
        _split_marginals(block, features, n_bins) for block in np.split(noisy, len(members))
    ]

    clip = CLIP_FACTOR * math.sqrt(d) if mechanism.private else None
    iu = np.triu_indices(d)
    sums = []
    for m, marg in zip(members, marginals, strict=True):
        scores = _normal_scores(df[m], features, n_bins, marg)
        if clip is not None:
            norms = np.linalg.norm(scores, axis=1, keepdims=True)
            scores = scores * np.minimum(1.0, clip / np.maximum(norms, 1e-12))
        sums.append((scores.T @ scores)[iu])
    noisy_sums = mechanism.release(
        "correlation", np.concatenate(sums), clip**2 if clip is not None else 1.0
    )
    noise_std = getattr(mechanism, "noise_std", {}).get("correlation", 0.0)
    classes = []
    for k, block in enumerate(np.split(noisy_sums, len(members))):
        corr = _correlation_from_sums(block, d, noise_std, counts[k])
        classes.append(ClassModel(label.categories[k], float(counts[k]), marginals[k], corr))
    return CopulaGenerator(schema, n_bins, tuple(classes))


def _bin_space(col: Column, values: np.ndarray) -> np.ndarray:
    """Map values (clipped to the bounds) to the space in which bins are even."""
    assert col.lower is not None and col.upper is not None
    clipped = np.clip(values.astype(float), col.lower, col.upper)
    return np.log1p(clipped - col.lower) if col.log_scale else clipped


def _bin_edges(col: Column, n_bins: int) -> np.ndarray:
    """Fixed, public bin edges in bin space (they depend only on the schema)."""
    assert col.lower is not None and col.upper is not None
    hi = math.log1p(col.upper - col.lower) if col.log_scale else col.upper
    lo = 0.0 if col.log_scale else col.lower
    return np.linspace(lo, hi, n_bins + 1)


def _histograms(df: pd.DataFrame, features: Sequence[Column], n_bins: int) -> np.ndarray:
    parts = []
    for col in features:
        values = df[col.name].to_numpy()
        if col.kind == "numeric":
            hist, _ = np.histogram(_bin_space(col, values), bins=_bin_edges(col, n_bins))
        else:
            as_str = pd.Series(values).map(str)
            hist = np.array([(as_str == str(c)).sum() for c in col.categories])
        parts.append(hist.astype(float))
    return np.concatenate(parts) if parts else np.zeros(0)


def _split_marginals(
    block: np.ndarray, features: Sequence[Column], n_bins: int
) -> dict[str, np.ndarray]:
    """Turn a released block of counts into probability vectors (post-processing, no cost)."""
    out = {}
    start = 0
    for col in features:
        size = n_bins if col.kind == "numeric" else len(col.categories)
        mass = np.maximum(block[start : start + size], 0.0) + MASS_FLOOR
        out[col.name] = mass / mass.sum()
        start += size
    return out


def _normal_scores(
    df: pd.DataFrame,
    features: Sequence[Column],
    n_bins: int,
    marginals: Mapping[str, np.ndarray],
) -> np.ndarray:
    """Each row's normal scores under the released marginals (so a row's score is its own)."""
    scores = np.zeros((len(df), len(features)))
    for j, col in enumerate(features):
        probs = marginals[col.name]
        cdf = np.concatenate([[0.0], np.cumsum(probs)])
        values = df[col.name].to_numpy()
        if col.kind == "numeric":
            u = np.interp(_bin_space(col, values), _bin_edges(col, n_bins), cdf)
        else:
            index = {str(c): i for i, c in enumerate(col.categories)}
            idx = pd.Series(values).map(str).map(index).to_numpy(dtype=int)
            u = cdf[idx] + probs[idx] / 2
        scores[:, j] = ndtri(np.clip(u, U_EPS, 1 - U_EPS))
    return scores


def _correlation_from_sums(upper: np.ndarray, d: int, noise_std: float, count: float) -> np.ndarray:
    """A valid correlation matrix from (noisy) score cross-products; post-processing only."""
    if count < 2:
        return np.eye(d)
    s = np.zeros((d, d))
    s[np.triu_indices(d)] = upper
    s = s + np.triu(s, 1).T
    diag = np.diag(s).copy()
    if np.any(diag <= 0):
        return np.eye(d)
    corr = s / np.sqrt(np.outer(diag, diag))
    np.fill_diagonal(corr, 1.0)
    if noise_std > 0 and d > 1:
        # Positive-part James-Stein shrinkage toward independence: the entries' noise variance
        # (noise_std / count)^2 is public, so the shrinkage factor costs no privacy.
        off = corr[~np.eye(d, dtype=bool)]
        noise_var = (noise_std / max(count, 1.0)) ** 2
        shrink = max(0.0, 1.0 - noise_var / max(float(np.mean(off**2)), 1e-12))
        corr = shrink * corr + (1 - shrink) * np.eye(d)
    return _nearest_correlation(corr)


def _nearest_correlation(corr: np.ndarray) -> np.ndarray:
    """Clip eigenvalues to make the matrix positive definite, then restore the unit diagonal."""
    corr = np.clip((corr + corr.T) / 2, -1.0, 1.0)
    vals, vecs = np.linalg.eigh(corr)
    fixed = (vecs * np.maximum(vals, 1e-6)) @ vecs.T
    scale = np.sqrt(np.diag(fixed))
    fixed = fixed / np.outer(scale, scale)
    np.fill_diagonal(fixed, 1.0)
    return fixed


def _numeric_inverse_cdf(col: Column, n_bins: int, probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    cdf = np.concatenate([[0.0], np.cumsum(probs)])
    cdf[-1] = 1.0
    t = np.interp(u, cdf, _bin_edges(col, n_bins))
    assert col.lower is not None and col.upper is not None
    values = col.lower + np.expm1(t) if col.log_scale else t
    return np.clip(values, col.lower, col.upper)


def _category_series(values: pd.Series, col: Column) -> pd.Series:
    """Give sampled categories the dtype of the schema's categories (ints stay ints)."""
    if all(isinstance(c, int) for c in col.categories):
        return values.astype(np.int64)
    return values.astype(object)


def _round(x: float) -> float:
    # Ten significant digits keep the JSON small; the values are noisy or binned anyway.
    return float(f"{float(x):.10g}")
