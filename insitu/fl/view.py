"""A session as the chain and IPFS record it: terms, config, template, committed documents.

Every worker (bank or coordinator) rebuilds what it needs from here instead of keeping state of
its own: the on-chain events are the database and IPFS holds the documents they commit to, so a
restarted worker, a re-delivered task or an auditor all see the same history.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from insitu.chain.session import FederatedSession, SessionCreated, SessionState
from insitu.federated.params import (
    Params,
    ScalerStats,
    federated_preprocessing_steps,
    fit_scaler_from_stats,
    init_params,
    transform_features,
)
from insitu.fl.documents import (
    AggregateDoc,
    SessionConfig,
    UpdateDoc,
    fetch,
    load_template,
)
from insitu.fl.errors import SessionError
from insitu.storage import ContentStore


@dataclass(frozen=True)
class Commitment:
    """A document committed on-chain: its CID, its hash, the tx and (aggregates) the mask."""

    cid: str
    digest: bytes
    tx_hash: str
    block_number: int
    mask: int = 0


class SessionView:
    """Read-only access to one session's terms, config and committed documents."""

    def __init__(self, sessions: FederatedSession, store: ContentStore, session_id: bytes) -> None:
        self.sessions = sessions
        self.store = store
        self.session_id = bytes(session_id)

    @property
    def hex_id(self) -> str:
        return "0x" + self.session_id.hex()

    @cached_property
    def created(self) -> SessionCreated:
        return self.sessions.created(self.session_id)

    @cached_property
    def config(self) -> SessionConfig:
        cid = self.created.config_cid
        if not cid:
            raise SessionError(
                f"Session {self.hex_id} has no config CID; create it with insitu.fl "
                "(create_session), which publishes the config document."
            )
        return SessionConfig.from_bytes(fetch(self.store, cid))

    @cached_property
    def raw_template(self) -> BaseEstimator:
        """The approved template as published (a pending StandardScaler still unfitted)."""
        config = self.config
        expected = bytes(self.created.terms.algorithm_hash)
        if bytes.fromhex(config.template_hash.removeprefix("0x")) != expected:
            raise SessionError(
                f"Session {self.hex_id}: the config's template hash differs from the on-chain "
                "algorithm hash; the config document is inconsistent with the session."
            )
        return load_template(fetch(self.store, config.template_cid), expected)

    def state(self) -> SessionState:
        return self.sessions.get(self.session_id)

    # ---------------------------------------------------------------- history

    def updates(self, chain_round: int | None = None) -> dict[int, dict[int, Commitment]]:
        """Committed updates by on-chain round and participant index."""
        out: dict[int, dict[int, Commitment]] = {}
        for log in self.sessions.events("UpdateCommitted", self.session_id):
            a = log["args"]
            if chain_round is not None and a["round"] != chain_round:
                continue
            out.setdefault(int(a["round"]), {})[int(a["index"])] = Commitment(
                a["cid"],
                bytes(a["updateHash"]),
                log["transactionHash"].to_0x_hex(),
                int(log["blockNumber"]),
            )
        return out

    def aggregates(self) -> dict[int, Commitment]:
        """Committed aggregates by on-chain round."""
        out: dict[int, Commitment] = {}
        for log in self.sessions.events("AggregateCommitted", self.session_id):
            a = log["args"]
            out[int(a["round"])] = Commitment(
                a["cid"],
                bytes(a["aggregateHash"]),
                log["transactionHash"].to_0x_hex(),
                int(log["blockNumber"]),
                int(a["includedMask"]),
            )
        return out

    def update_doc(self, c: Commitment) -> UpdateDoc:
        return UpdateDoc.from_bytes(fetch(self.store, c.cid, c.digest))

    def aggregate_doc(self, c: Commitment) -> AggregateDoc:
        return AggregateDoc.from_bytes(fetch(self.store, c.cid, c.digest))

    # ---------------------------------------------------------------- the model

    def scaler_stats(self) -> ScalerStats | None:
        """The summed statistics of the statistics round (None without one)."""
        if not self.config.stats_round:
            return None
        agg = self.aggregates().get(0)
        if agg is None:
            raise SessionError(f"Session {self.hex_id}: the statistics round is not aggregated.")
        return self.aggregate_doc(agg).scaler

    def template(self, stats: ScalerStats | None = None) -> BaseEstimator:
        """The template with its federated preprocessing fitted from the summed statistics."""
        template = self.raw_template
        pending = federated_preprocessing_steps(template)
        if not pending:
            return template
        if len(pending) > 1:
            raise SessionError(
                f"The template has {len(pending)} unfitted StandardScalers ({pending}); only one "
                "can be fitted federatedly. Fit the others on your validation data."
            )
        stats = stats if stats is not None else self.scaler_stats()
        if stats is None:
            raise SessionError(
                "The template has an unfitted StandardScaler but the session has no statistics "
                "round; create the session with stats_round=True."
            )
        fitted = copy.deepcopy(template)
        fit_scaler_from_stats(fitted.named_steps[pending[0]], [stats])
        if pending[0] == fitted.steps[0][0]:
            # A first-step scaler sees DataFrames; record the names as fit() would.
            fitted.named_steps[pending[0]].feature_names_in_ = np.asarray(
                self.config.features, dtype=object
            )
        return fitted

    def initial_params(self, template: BaseEstimator, X: pd.DataFrame) -> Params:
        """The deterministic starting model (zeros for linear models, seeded for MLPs)."""
        n_features = transform_features(template, X[:1]).shape[1]
        return init_params(template, n_features, self.config.classes, seed=self.config.seed)

    def global_params(self, chain_round: int, template: BaseEstimator, X: pd.DataFrame) -> Params:
        """The model round `chain_round` starts from: the previous aggregate, or the initial one."""
        if chain_round == 0 or (self.config.stats_round and chain_round == 1):
            if chain_round == 1:
                return self.aggregate_doc(self.aggregates()[0]).params
            return self.initial_params(template, X)
        prev = self.aggregates().get(chain_round - 1)
        if prev is None:
            raise SessionError(
                f"Session {self.hex_id}: round {chain_round - 1} has no aggregate yet."
            )
        return self.aggregate_doc(prev).params


def stats_of(template: BaseEstimator, X: pd.DataFrame) -> ScalerStats:
    """A participant's statistics for the template's pending StandardScaler."""
    pending = federated_preprocessing_steps(template)
    if not pending:
        raise SessionError("The template has no StandardScaler to fit federatedly.")
    names = [n for n, _ in template.steps]
    idx = names.index(pending[0])
    data = template[:idx].transform(X) if idx else X.to_numpy(dtype=float)
    return ScalerStats.of(np.asarray(data, dtype=float))
