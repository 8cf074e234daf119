"""The coordinator's combination: a validated mixture of the contributions' generators.

The global generator is a mixture of the accepted contributions' copulas, each weighted by its
(noisy) row count. Contributions are added greedily, best first: each round tries every
remaining contribution on top of the accepted ones, keeps the one whose synthetic data trains
the best model (ROC AUC on the coordinator's validation set), and stops when no candidate
improves the metric by more than ``min_gain``; the rest are rejected with their metric.

Why best-first rather than arrival order: the result does not depend on who published first (a
weak contribution cannot get in early and raise the bar for a better one), ties are broken by
contribution id so it is deterministic, and with k contributions it costs at most k(k+1)/2
model fits, a few seconds for the tens of providers a session has; ``strategy="in_order"``
(k fits, in the order given) is there for large k. Every evaluation samples with the same seed
(common random numbers), so metric differences come from the contributions, not from sampling noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from insitu.synth.contribution import Contribution
from insitu.synth.errors import CombinationError
from insitu.synth.features import binary_labels, design_matrix
from insitu.synth.generator import CopulaGenerator
from insitu.synth.schema import Schema

MIXTURE_KIND = "insitu.synth.mixture/v1"
Strategy = Literal["best_first", "in_order"]
ModelFactory = Callable[[], ClassifierMixin]


def default_model() -> ClassifierMixin:
    """A small gradient-boosted tree model: ~0.2 s on 4000 rows with one thread.

    A linear model was tried first and misjudged contributions: fraud patterns with opposite
    signatures (tiny card-testing amounts vs large online sprees) cannot both be scored well by
    one linear function, so adding a provider with a new pattern lowered its AUC.
    """
    return HistGradientBoostingClassifier(
        max_iter=60, max_leaf_nodes=15, learning_rate=0.1, early_stopping=False, random_state=0
    )


@dataclass(frozen=True)
class MixtureGenerator:
    """A count-weighted mixture of copula generators (the published global generator)."""

    schema: Schema
    components: tuple[tuple[str, CopulaGenerator], ...]

    def sample(self, n: int, rng: np.random.Generator, balanced: bool = False) -> pd.DataFrame:
        """Draw ``n`` rows in schema encoding.

        ``balanced=True`` draws the same number of rows per class (each class from the
        components in proportion to their counts of that class). ROC AUC does not depend on the
        class prior, and with rare positives (1 % fraud) a natural-prior sample would hold too
        few of them to learn from.
        """
        if not self.components:
            raise CombinationError("the mixture has no component; accept a contribution first")
        if not balanced:
            counts = np.array([[max(g.count, 0.0)] for _, g in self.components])
            per_class = [n]
        else:
            counts = np.array([[max(m.count, 0.0) for m in g.classes] for _, g in self.components])
            n_classes = counts.shape[1]
            per_class = [n // n_classes + (k < n % n_classes) for k in range(n_classes)]
        frames = []
        for k, n_k in enumerate(per_class):
            weights = counts[:, k] if counts[:, k].sum() > 0 else np.ones(len(counts))
            allocation = rng.multinomial(n_k, weights / weights.sum())
            for (_, g), m in zip(self.components, allocation, strict=True):
                if m > 0:
                    frames.append(g.sample_class(k, int(m), rng) if balanced else g.sample(m, rng))
        out = pd.concat(frames, ignore_index=True)
        return out.iloc[rng.permutation(len(out))].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-serialisable parameters (to publish)."""
        return {
            "kind": MIXTURE_KIND,
            "schema": self.schema.to_dict(),
            "components": [
                {"contribution_id": cid, "weight": g.count, "params": g.to_dict()}
                for cid, g in self.components
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MixtureGenerator:
        """Inverse of ``to_dict``."""
        if data.get("kind") != MIXTURE_KIND:
            raise CombinationError(f"not a {MIXTURE_KIND} object (kind={data.get('kind')!r})")
        return cls(
            Schema.from_dict(data["schema"]),
            tuple(
                (c["contribution_id"], CopulaGenerator.from_dict(c["params"]))
                for c in data["components"]
            ),
        )


@dataclass(frozen=True)
class Decision:
    """The verdict on one contribution, with the validation metric before and after adding it."""

    contribution_id: str
    participant: str
    accepted: bool
    metric_before: float
    metric_after: float
    round: int


@dataclass
class CombinationReport:
    """Accepted and rejected contributions and the metric trajectory, JSON-serialisable."""

    metric: str
    strategy: str
    baseline: float
    decisions: list[Decision] = field(default_factory=list)
    trajectory: list[float] = field(default_factory=list)

    @property
    def accepted(self) -> list[str]:
        """Accepted contribution ids, in order of acceptance."""
        return [d.contribution_id for d in self.decisions if d.accepted]

    @property
    def rejected(self) -> list[str]:
        """Rejected contribution ids."""
        return [d.contribution_id for d in self.decisions if not d.accepted]

    @property
    def final_metric(self) -> float:
        """The metric of the final combination (the baseline if nothing was accepted)."""
        return self.trajectory[-1] if self.trajectory else self.baseline

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable record."""
        return {
            "metric": self.metric,
            "strategy": self.strategy,
            "baseline": self.baseline,
            "final_metric": self.final_metric,
            "trajectory": list(self.trajectory),
            "accepted": self.accepted,
            "rejected": self.rejected,
            "decisions": [vars(d) for d in self.decisions],
        }


@dataclass
class _Evaluator:
    schema: Schema
    x_val: np.ndarray
    y_val: np.ndarray
    n_synthetic: int
    seed: int
    model_factory: ModelFactory

    def __call__(self, components: Sequence[tuple[str, CopulaGenerator]]) -> float:
        mixture = MixtureGenerator(self.schema, tuple(components))
        rng = np.random.default_rng(self.seed)
        synthetic = mixture.sample(self.n_synthetic, rng, balanced=True)
        y = binary_labels(synthetic, self.schema)
        if y.min() == y.max():
            return 0.5  # a one-class sample trains nothing better than a coin
        model = self.model_factory()
        # Many small fits: OpenMP threads cost more than they save (and contend with other
        # workers on the machine), so each fit runs on one thread.
        with threadpool_limits(limits=1):
            model.fit(design_matrix(synthetic, self.schema), y)
            scores = model.predict_proba(self.x_val)[:, 1]
        return float(roc_auc_score(self.y_val, scores))


def combine_contributions(
    contributions: Sequence[Contribution],
    validation: pd.DataFrame,
    schema: Schema,
    *,
    n_synthetic: int = 4000,
    seed: int = 0,
    min_gain: float = 0.0,
    strategy: Strategy = "best_first",
    model_factory: ModelFactory = default_model,
) -> tuple[MixtureGenerator, CombinationReport]:
    """Greedily combine ``contributions``, validating on ``validation`` (schema encoding)."""
    if not contributions:
        raise CombinationError("no contributions to combine")
    validation = schema.validate(validation)
    y_val = binary_labels(validation, schema)
    if y_val.min() == y_val.max():
        raise CombinationError(
            "the validation set has a single class; ROC AUC needs positives and negatives"
        )
    candidates: list[tuple[Contribution, str, CopulaGenerator]] = []
    for c in contributions:
        gen = c.generator()
        if gen.schema != schema:
            raise CombinationError(
                f"contribution of {c.participant!r} was fitted on schema {gen.schema.name!r}, "
                f"not on the combiner's {schema.name!r}"
            )
        candidates.append((c, c.contribution_id, gen))
    evaluate = _Evaluator(
        schema, design_matrix(validation, schema), y_val, n_synthetic, seed, model_factory
    )
    report = CombinationReport("roc_auc", strategy, baseline=0.5)
    if strategy == "best_first":
        candidates.sort(key=lambda item: item[1])  # deterministic tie-breaking
        _best_first(candidates, evaluate, min_gain, report)
    elif strategy == "in_order":
        _in_order(candidates, evaluate, min_gain, report)
    else:
        raise CombinationError(f"unknown strategy {strategy!r}; use 'best_first' or 'in_order'")
    by_id = {cid: gen for _, cid, gen in candidates}
    components = tuple((cid, by_id[cid]) for cid in report.accepted)
    return MixtureGenerator(schema, components), report


def _best_first(
    candidates: list[tuple[Contribution, str, CopulaGenerator]],
    evaluate: _Evaluator,
    min_gain: float,
    report: CombinationReport,
) -> None:
    current: list[tuple[str, CopulaGenerator]] = []
    metric = report.baseline
    remaining = list(candidates)
    round_no = 0
    while remaining:
        scored = [(evaluate([*current, (cid, gen)]), c, cid, gen) for c, cid, gen in remaining]
        # max() keeps the first of equal scores, i.e. the smallest id: deterministic.
        best = max(scored, key=lambda s: s[0])
        if best[0] > metric + min_gain:
            report.decisions.append(
                Decision(best[2], best[1].participant, True, metric, best[0], round_no)
            )
            current.append((best[2], best[3]))
            metric = best[0]
            report.trajectory.append(metric)
            remaining = [r for r in remaining if r[1] != best[2]]
            round_no += 1
            continue
        for score, c, cid, _ in scored:
            report.decisions.append(Decision(cid, c.participant, False, metric, score, round_no))
        return


def _in_order(
    candidates: list[tuple[Contribution, str, CopulaGenerator]],
    evaluate: _Evaluator,
    min_gain: float,
    report: CombinationReport,
) -> None:
    current: list[tuple[str, CopulaGenerator]] = []
    metric = report.baseline
    for round_no, (c, cid, gen) in enumerate(candidates):
        score = evaluate([*current, (cid, gen)])
        accepted = score > metric + min_gain
        report.decisions.append(Decision(cid, c.participant, accepted, metric, score, round_no))
        if accepted:
            current.append((cid, gen))
            metric = score
            report.trajectory.append(metric)
