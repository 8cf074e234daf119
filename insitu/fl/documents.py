"""The documents a session puts on IPFS, as canonical JSON whose keccak256 goes on-chain.

* `SessionConfig` (its CID is the ``configCid`` of ``SessionCreated``): the model template's
  CID and hash, columns, classes, strategy, local training, round timeout, DP and valuation
  settings. Everything a bank's worker and the coordinator need to play their parts.
* update documents (``commitUpdate``): a participant's parameters, sample count and metrics;
  in the statistics round, its StandardScaler statistics instead;
* aggregate documents (``commitAggregate``): the next global model, who was included, and in
  the statistics round the summed scaler statistics.

Parameters travel as JSON lists of floats: Python's float repr round-trips exactly, so a
document decodes to the very arrays that were hashed, and anyone can audit it without numpy.

The model template (the data scientist's sklearn Pipeline) is a pickle: loading one runs code,
so a bank loads it only when its keccak256 equals the session's ``algorithmHash``, which the
registry checked against the bank's own allowlist when the session was created.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from eth_utils import keccak
from sklearn.base import BaseEstimator

from insitu.federated.params import Params, ScalerStats
from insitu.fl.errors import DocumentMismatch, SessionError, TemplateMismatch
from insitu.storage import ContentStore

STRATEGIES = ("fedavg", "fedprox", "fedavgm", "fedadam")
VALUATION_METHODS = ("auto", "exact", "tmc", "gtg", "stratified")


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


# ------------------------------------------------------------------ the session config


@dataclass(frozen=True)
class SessionConfig:
    """The session's configuration document (IPFS; its CID is the on-chain ``configCid``)."""

    template_cid: str
    template_hash: str
    features: list[str]
    target: str
    classes: list[int]
    rounds: int
    stats_round: bool = False
    strategy: dict[str, Any] = field(default_factory=lambda: {"name": "fedavg"})
    local: dict[str, Any] = field(
        default_factory=lambda: {
            "epochs": 1,
            "learning_rate": 0.5,
            "batch_size": 128,
            "lr_decay": 0.9,
        }
    )
    round_timeout: float = 30.0
    min_participants: int = 1
    dp: dict[str, float] | None = None
    valuation: dict[str, Any] = field(default_factory=lambda: {"method": "auto"})
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise SessionError("A session needs at least one training round.")
        if self.strategy.get("name") not in STRATEGIES:
            raise SessionError(
                f"Unknown strategy {self.strategy.get('name')!r}; choose one of {STRATEGIES}."
            )
        if self.valuation.get("method", "auto") not in VALUATION_METHODS:
            raise SessionError(
                f"Unknown valuation method {self.valuation.get('method')!r}; "
                f"choose one of {VALUATION_METHODS}."
            )

    @property
    def chain_rounds(self) -> int:
        """Rounds on-chain: the training rounds plus the statistics round if there is one."""
        return self.rounds + int(self.stats_round)

    def training_round(self, chain_round: int) -> int | None:
        """The training round of an on-chain round (None for the statistics round)."""
        t = chain_round - int(self.stats_round)
        return t if t >= 0 else None

    def to_bytes(self) -> bytes:
        return canonical(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionConfig:
        try:
            return cls(**json.loads(data))
        except (TypeError, ValueError) as exc:
            raise SessionError(f"Not a session config document: {exc}.") from exc


# ------------------------------------------------------------------ the model template


def template_bytes(template: BaseEstimator) -> bytes:
    """The pickled template: what the data scientist publishes and the banks allowlist."""
    return pickle.dumps(template, protocol=5)


def load_template(data: bytes, expected_hash: bytes) -> BaseEstimator:
    """Unpickle the template only if it is the approved one (see the module docstring)."""
    if keccak(data) != bytes(expected_hash):
        raise TemplateMismatch(
            f"The model template hashes to 0x{keccak(data).hex()}, not the session's algorithm "
            f"hash 0x{bytes(expected_hash).hex()}; refusing to load it. Allowlist the exact "
            "template you reviewed."
        )
    return pickle.loads(data)


# ------------------------------------------------------------------ parameters


def encode_params(params: Params) -> list[dict[str, Any]]:
    """Arrays as ``{"shape": [...], "data": [...]}`` (row-major floats)."""
    return [
        {"shape": list(p.shape), "data": np.asarray(p, dtype=float).ravel().tolist()}
        for p in params
    ]


def decode_params(items: Sequence[dict[str, Any]]) -> Params:
    return [np.asarray(i["data"], dtype=float).reshape(i["shape"]) for i in items]


def stats_json(stats: ScalerStats) -> dict[str, Any]:
    return {"n": stats.n, "sum": stats.sum.tolist(), "sum_sq": stats.sum_sq.tolist()}


def stats_from_json(value: dict[str, Any]) -> ScalerStats:
    return ScalerStats(
        n=int(value["n"]),
        sum=np.asarray(value["sum"], dtype=float),
        sum_sq=np.asarray(value["sum_sq"], dtype=float),
    )


@dataclass(frozen=True)
class UpdateDoc:
    """A participant's contribution to one on-chain round."""

    session: str
    round: int
    index: int
    n_samples: int
    params: Params | None = None
    stats: ScalerStats | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return canonical(
            {
                "kind": "update",
                "session": self.session,
                "round": self.round,
                "index": self.index,
                "n_samples": self.n_samples,
                "params": encode_params(self.params) if self.params is not None else None,
                "stats": stats_json(self.stats) if self.stats is not None else None,
                "metrics": self.metrics,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> UpdateDoc:
        d = json.loads(data)
        if d.get("kind") != "update":
            raise SessionError("Not an update document.")
        return cls(
            session=d["session"],
            round=int(d["round"]),
            index=int(d["index"]),
            n_samples=int(d["n_samples"]),
            params=decode_params(d["params"]) if d["params"] is not None else None,
            stats=stats_from_json(d["stats"]) if d["stats"] is not None else None,
            metrics=d.get("metrics", {}),
        )


@dataclass(frozen=True)
class AggregateDoc:
    """The coordinator's output of one on-chain round: the next global model."""

    session: str
    round: int
    included: list[int]
    params: Params
    scaler: ScalerStats | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return canonical(
            {
                "kind": "aggregate",
                "session": self.session,
                "round": self.round,
                "included": self.included,
                "params": encode_params(self.params),
                "scaler": stats_json(self.scaler) if self.scaler is not None else None,
                "info": self.info,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> AggregateDoc:
        d = json.loads(data)
        if d.get("kind") != "aggregate":
            raise SessionError("Not an aggregate document.")
        return cls(
            session=d["session"],
            round=int(d["round"]),
            included=[int(i) for i in d["included"]],
            params=decode_params(d["params"]),
            scaler=stats_from_json(d["scaler"]) if d["scaler"] is not None else None,
            info=d.get("info", {}),
        )
