"""The documents of a generator session, as canonical JSON whose keccak256 goes on-chain.

* the generator template (its keccak256 is the session's ``algorithmHash``, which each provider
  allowlists): the shared schema, the generator family and its binning. A provider reviews this
  once and thereby agrees on *what* may be computed from its rows and released;
* `GeneratorConfig` (its CID is the ``configCid`` of ``SessionCreated``): the template's CID and
  hash, the (ε, δ) every contribution is fitted at, and the combination settings;
* a contribution (``commitUpdate``): ``insitu.synth.Contribution`` JSON, whose ``participant``
  is ``"<session>:<index>"`` so that it cannot be replayed into another session or slot;
* `GeneratorDoc` (``commitAggregate`` and the finalized ``modelCid``): the combined mixture,
  which participant indexes it includes, and the combination's full record;
* the report (``reportCid``): per participant its contribution, verdict, metric gain, score
  and spent ε.

Everything is JSON, so anyone can audit it without unpickling (nothing here runs code).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_utils import keccak

from insitu.storage import ContentStore
from insitu.synth.combiner import MixtureGenerator
from insitu.synth.generator import DEFAULT_BINS
from insitu.synth.schema import Schema
from insitu.synthsession.errors import DocumentMismatch, GeneratorSessionError, NotAGeneratorSession

TEMPLATE_KIND = "insitu.synth.generator-template/v1"
CONFIG_KIND = "insitu.synth.session-config/v1"
GENERATOR_KIND = "insitu.synth.session-generator/v1"
REPORT_KIND = "insitu.synth.session-report/v1"
GENERATOR_FAMILY = "class-conditional Gaussian copula, Gaussian mechanism, RDP accountant"
#: On-chain scores are uint32: a metric gain of 1.0 ROC AUC is worth this many points.
SCORE_SCALE = 1_000_000


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def put(store: ContentStore, data: bytes) -> tuple[str, bytes]:
    """Add `data` to IPFS; return (CID, keccak256)."""
    return store.add(data), keccak(data)


def fetch(store: ContentStore, cid: str, expected_hash: bytes | None = None) -> bytes:
    """Read `cid`, checking it against the hash committed on-chain when one is given."""
    data = store.cat(cid)
    if expected_hash is not None and keccak(data) != bytes(expected_hash):
        raise DocumentMismatch(
            f"{cid} does not hash to the committed 0x{bytes(expected_hash).hex()}: the document "
            "was replaced or the commitment is wrong; challenge the session with this evidence."
        )
    return data


# ------------------------------------------------------------------ the template


def template_bytes(schema: Schema, n_bins: int = DEFAULT_BINS) -> bytes:
    """The generator template document: what providers allowlist (by its keccak256)."""
    return canonical(
        {
            "kind": TEMPLATE_KIND,
            "generator": GENERATOR_FAMILY,
            "n_bins": n_bins,
            "schema": schema.to_dict(),
        }
    )


@dataclass(frozen=True)
class GeneratorTemplate:
    """A parsed template: the schema and binning every contribution is fitted with."""

    schema: Schema
    n_bins: int

    @classmethod
    def from_bytes(cls, data: bytes, expected_hash: bytes) -> GeneratorTemplate:
        """Parse the template, refusing any whose hash is not the approved one."""
        if keccak(data) != bytes(expected_hash):
            raise DocumentMismatch(
                f"The generator template hashes to 0x{keccak(data).hex()}, not the session's "
                f"algorithm hash 0x{bytes(expected_hash).hex()}; allowlist the exact template "
                "you reviewed."
            )
        obj = json.loads(data)
        if obj.get("kind") != TEMPLATE_KIND:
            raise NotAGeneratorSession(f"not a {TEMPLATE_KIND} document")
        return cls(Schema.from_dict(obj["schema"]), int(obj["n_bins"]))


# ------------------------------------------------------------------ the session config


@dataclass(frozen=True)
class GeneratorConfig:
    """The session's configuration document (IPFS; its CID is the on-chain ``configCid``).

    ``epsilon=None`` declares a session without differential privacy: providers refuse it
    unless their worker allows an unbounded budget. ``min_gain``, ``strategy``, ``n_synthetic``
    and ``seed`` are the combiner's (``insitu.synth.combine``) settings, fixed up front so that
    anyone with the validation set can recompute the verdicts.
    """

    template_cid: str
    template_hash: str
    epsilon: float | None
    delta: float = 1e-5
    n_synthetic: int = 4000
    min_gain: float = 0.0
    strategy: str = "best_first"
    seed: int = 0
    round_timeout: float = 30.0
    min_participants: int = 1
    kind: str = CONFIG_KIND
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind != CONFIG_KIND:
            raise NotAGeneratorSession(
                f"config kind {self.kind!r} is not {CONFIG_KIND!r}: not a generator session"
            )
        if self.epsilon is not None and not self.epsilon > 0:
            raise GeneratorSessionError(f"epsilon must be > 0 or None, got {self.epsilon}")
        if not 0 < self.delta < 1:
            raise GeneratorSessionError(f"delta must be in (0, 1), got {self.delta}")
        if self.strategy not in ("best_first", "in_order"):
            raise GeneratorSessionError(
                f"unknown strategy {self.strategy!r}; use 'best_first' or 'in_order'"
            )

    #: A generator session has a single on-chain round: contributions, then the combination.
    chain_rounds = 1

    @property
    def algorithm_hash(self) -> bytes:
        return bytes.fromhex(self.template_hash.removeprefix("0x"))

    def to_bytes(self) -> bytes:
        return canonical(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes) -> GeneratorConfig:
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise NotAGeneratorSession(f"config document is not JSON: {exc}") from exc
        if not isinstance(obj, dict) or obj.get("kind") != CONFIG_KIND:
            raise NotAGeneratorSession(
                f"config document is not a {CONFIG_KIND} (an FL session or another service)"
            )
        try:
            return cls(**obj)
        except TypeError as exc:
            raise GeneratorSessionError(f"malformed generator config: {exc}") from exc


# ------------------------------------------------------------------ the generator


def contribution_label(session_hex: str, index: int) -> str:
    """The ``participant`` a contribution must carry for slot `index` of a session."""
    return f"{session_hex}:{index}"


@dataclass(frozen=True)
class GeneratorDoc:
    """The combined generator with its provenance (the aggregate and the final model)."""

    session: str
    included: list[int]
    accepted: list[int]
    generator: dict[str, Any]
    contributions: dict[int, dict[str, Any]]
    combination: dict[str, Any]

    def mixture(self) -> MixtureGenerator:
        return MixtureGenerator.from_dict(self.generator)

    def to_bytes(self) -> bytes:
        return canonical(
            {
                "kind": GENERATOR_KIND,
                "session": self.session,
                "included": self.included,
                "accepted": self.accepted,
                "generator": self.generator,
                "contributions": {str(i): c for i, c in self.contributions.items()},
                "combination": self.combination,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> GeneratorDoc:
        obj = json.loads(data)
        if obj.get("kind") != GENERATOR_KIND:
            raise GeneratorSessionError(f"not a {GENERATOR_KIND} document")
        return cls(
            session=obj["session"],
            included=[int(i) for i in obj["included"]],
            accepted=[int(i) for i in obj["accepted"]],
            generator=obj["generator"],
            contributions={int(i): c for i, c in obj["contributions"].items()},
            combination=obj["combination"],
        )


def scores_of(doc: GeneratorDoc, count: int) -> list[int]:
    """On-chain scores: each accepted contribution's metric gain × SCORE_SCALE, else 0.

    An accepted contribution improved the metric by more than ``min_gain`` >= 0, so it scores at
    least 1 even when the gain rounds to 0 points: acceptance always earns a share of the pool.
    """
    out = [0] * count
    for i in doc.accepted:
        gain = float(doc.contributions[i]["gain"])
        out[i] = max(1, min(2**32 - 1, round(gain * SCORE_SCALE)))
    return out


def report_bytes(
    doc: GeneratorDoc, config_cid: str, generator_cid: str, scores: list[int]
) -> bytes:
    """The finalization report: verdicts, gains, scores and privacy spent, per participant."""
    participants = []
    for i, score in enumerate(scores):
        c = doc.contributions.get(i)
        participants.append({"index": i, "score": score, **(c or {"committed": False})})
    return canonical(
        {
            "kind": REPORT_KIND,
            "session": doc.session,
            "config_cid": config_cid,
            "generator_cid": generator_cid,
            "score_scale": SCORE_SCALE,
            "metric": doc.combination.get("metric"),
            "baseline": doc.combination.get("baseline"),
            "final_metric": doc.combination.get("final_metric"),
            "participants": participants,
            "combination": doc.combination,
        }
    )
