"""The coordinator's part of a session: close each round, aggregate, value, finalize.

A round opens when the previous aggregate is committed (or the session starts). The coordinator
waits until every accepted participant has committed, or until the round timeout has passed and
at least the minimum have; the others are dropped for that round only. It aggregates exactly the
updates the contract has recorded for the round (`roundMask`), re-reading it just before the
transaction so that a late commit cannot slip into the on-chain mask unaggregated, and commits
the aggregate document. Server-side strategy state (FedAvgM momentum, FedAdam moments) is not
kept anywhere: it is replayed from the committed history, so a crashed coordinator resumes.

After the last round the contributions are valued on the data scientist's validation set from
models rebuilt from the committed updates (exact Shapley up to 8 participants, sampled beyond),
and the canonical report goes to IPFS; its keccak256 and the integer scores go on-chain with
`finalize`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from insitu.chain.errors import ContractRevert
from insitu.chain.session import FederatedSession, SessionState, SessionStatus
from insitu.federated.client import Update
from insitu.federated.params import ScalerStats
from insitu.federated.privacy import DPConfig, DPFedAvg, epsilon
from insitu.federated.strategies import FedAdam, FedAvg, FedAvgM, FedProx, Strategy
from insitu.federated.valuation import (
    FederatedGame,
    RoundRecord,
    ValuationReport,
    make_report,
    value_session,
)
from insitu.fl.documents import AggregateDoc, SessionConfig, put
from insitu.fl.errors import RoundNotOpen, SessionError
from insitu.fl.shapley_sampling import stratified_shapley
from insitu.fl.view import SessionView
from insitu.storage import ContentStore

EXACT_MAX_PARTICIPANTS = 8


class Decision(StrEnum):
    WAIT = "wait"
    CLOSE = "close"


def decide_round(
    expected: Sequence[int],
    answered: Sequence[int],
    min_participants: int,
    elapsed: float,
    timeout: float,
) -> Decision:
    """Close when everyone expected answered, or at the timeout with at least the minimum.

    Below the minimum the round keeps waiting past its timeout: the contract would refuse the
    aggregate, and a participant that comes back (or the session deadline) ends the wait.
    """
    answered_set = set(answered)
    if all(i in answered_set for i in expected) and answered_set:
        return Decision.CLOSE
    if elapsed >= timeout and len(answered_set) >= max(min_participants, 1):
        return Decision.CLOSE
    return Decision.WAIT


def decide_open_round(
    state: SessionState, elapsed: float, round_timeout: float
) -> tuple[Decision, list[int]]:
    """``decide_round`` for the round open in ``state``; also returns who answered it."""
    answered = mask_bits(state.round_mask)
    expected = mask_bits(state.accepted_mask)
    decision = decide_round(expected, answered, state.min_participants, elapsed, round_timeout)
    return decision, answered


def make_strategy(config: SessionConfig, expected: int, dp_seed: int | None) -> Strategy:
    """The session's aggregation rule (DP-FedAvg when DP is on)."""
    s = {k: v for k, v in config.strategy.items() if k != "name"}
    if config.dp:
        dp = DPConfig(
            clip_norm=float(config.dp["clip_norm"]),
            noise_multiplier=float(config.dp["noise_multiplier"]),
            delta=float(config.dp.get("delta", 1e-5)),
        )
        return DPFedAvg(dp, expected_participants=expected, seed=dp_seed, **s)
    name = config.strategy["name"]
    cls: type[Strategy] = {
        "fedavg": FedAvg,
        "fedprox": FedProx,
        "fedavgm": FedAvgM,
        "fedadam": FedAdam,
    }[name]
    return cls(**s)  # type: ignore[call-arg]


@dataclass
class Coordinator:
    """What the coordinator's worker holds: its key, IPFS, the contract, validation data."""

    sessions: FederatedSession
    store: ContentStore
    account: LocalAccount
    validation: pd.DataFrame
    poll_interval: float = 0.2
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    #: Secret seed of the DP noise (derived from the coordinator's key): replays reproduce it,
    #: nobody else can.
    dp_secret: bytes = field(default=b"", repr=False)

    def view(self, session_id: bytes) -> SessionView:
        return SessionView(self.sessions, self.store, session_id)

    def xy(self, config: SessionConfig) -> tuple[pd.DataFrame, np.ndarray]:
        return (
            self.validation[config.features],
            self.validation[config.target].to_numpy(dtype=int),
        )

    # ---------------------------------------------------------------- rounds

    def run_round(self, session_id: bytes, chain_round: int, opened_at: float) -> str:
        """Wait for the round's updates, aggregate and commit; returns what happened."""
        view = self.view(session_id)
        config = view.config
        while True:
            state = view.state()
            if state.status != SessionStatus.RUNNING:
                return "not_running"
            if state.round > chain_round:
                return "already"
            if state.round < chain_round:
                raise RoundNotOpen(f"Round {chain_round} is not open yet (current {state.round}).")
            if self.clock() >= state.session_deadline:
                raise SessionError(
                    f"Session {view.hex_id} passed its deadline in round {chain_round}; anyone "
                    "may now expire it (participants that worked are paid their price)."
                )
            decision, answered = decide_open_round(
                state, self.clock() - opened_at, config.round_timeout
            )
            if decision is Decision.WAIT:
                self.sleep(self.poll_interval)
                continue
            doc = self.aggregate(view, chain_round, answered)
            cid, digest = put(self.store, doc.to_bytes())
            try:
                self.sessions.commit_aggregate(
                    self.account, session_id, chain_round, digest, cid, included=answered
                )
            except ContractRevert as exc:
                if exc.error == "IncludedMismatch":
                    continue  # a late update landed after we aggregated: aggregate it too
                if exc.error == "WrongRound":
                    return "already"
                raise
            return f"aggregated {len(answered)} update(s)"

    def aggregate(self, view: SessionView, chain_round: int, included: list[int]) -> AggregateDoc:
        """The aggregate document of `chain_round` over the updates of `included`."""
        config = view.config
        committed = view.updates(chain_round).get(chain_round, {})
        missing = [i for i in included if i not in committed]
        if missing:
            raise RoundNotOpen(f"Updates of {missing} are not visible in the logs yet; retry.")
        docs = {i: view.update_doc(committed[i]) for i in included}
        X_val, _ = self.xy(config)
        if config.training_round(chain_round) is None:
            stats = [d.stats for d in docs.values() if d.stats is not None]
            summed = ScalerStats(
                n=sum(s.n for s in stats),
                sum=np.sum([s.sum for s in stats], axis=0),
                sum_sq=np.sum([s.sum_sq for s in stats], axis=0),
            )
            template = view.template(summed)
            return AggregateDoc(
                view.hex_id,
                chain_round,
                included,
                view.initial_params(template, X_val),
                scaler=summed,
                info={"n_samples": summed.n},
            )
        template = view.template()
        strategy = self._replayed_strategy(view, chain_round, template, X_val)
        g = view.global_params(chain_round, template, X_val)
        updates = [
            Update(params=docs[i].params, n_samples=docs[i].n_samples, participant=i)  # type: ignore[arg-type]
            for i in included
        ]
        params = strategy.aggregate(g, updates)
        info: dict[str, Any] = {"n_samples": sum(u.n_samples for u in updates)}
        if config.dp:
            info["clipped"] = getattr(strategy, "clipped_last_round", 0)
        return AggregateDoc(view.hex_id, chain_round, included, params, info=info)

    def _replayed_strategy(
        self, view: SessionView, chain_round: int, template: Any, X_val: pd.DataFrame
    ) -> Strategy:
        config = view.config
        expected = len(mask_bits(view.state().accepted_mask))
        seed = None
        if config.dp:
            seed = int.from_bytes(
                keccak(self.dp_secret + view.session_id + chain_round.to_bytes(2, "big"))[:8],
                "big",
            )
        strategy = make_strategy(config, expected, seed)
        first = int(config.stats_round)
        g0 = view.global_params(first, template, X_val)
        strategy.initialize(g0)
        if chain_round == first or not isinstance(strategy, FedAvgM | FedAdam):
            return strategy
        # Rebuild the server optimiser's state from the committed history.
        aggregates = view.aggregates()
        updates = view.updates()
        for r in range(first, chain_round):
            g = view.global_params(r, template, X_val)
            included = view.aggregate_doc(aggregates[r]).included
            docs = [view.update_doc(updates[r][i]) for i in included]
            strategy.aggregate(
                g,
                [Update(d.params, d.n_samples, participant=d.index) for d in docs],  # type: ignore[arg-type]
            )
        return strategy

    # ---------------------------------------------------------------- valuation

    def game(self, view: SessionView) -> FederatedGame:
        """The coalition game of a finished session, rebuilt from the committed updates."""
        config = view.config
        template = view.template()
        X_val, y_val = self.xy(config)
        aggregates = view.aggregates()
        updates = view.updates()
        records = []
        for r in range(int(config.stats_round), config.chain_rounds):
            included = view.aggregate_doc(aggregates[r]).included
            docs = {i: view.update_doc(updates[r][i]) for i in included}
            records.append(
                RoundRecord(
                    global_params=view.global_params(r, template, X_val),
                    updates={
                        i: Update(d.params, d.n_samples, participant=i)  # type: ignore[arg-type]
                        for i, d in docs.items()
                    },
                )
            )
        n = len(view.created.participants)
        return FederatedGame(records, template, config.classes, X_val, y_val, n_participants=n)

    def value(self, view: SessionView) -> ValuationReport:
        """Value the contributions as the session's config says (auto: exact for n <= 8)."""
        config = view.config
        game = self.game(view)
        names = ["0x" + bytes(p.asset_id).hex() for p in view.created.participants]
        options = {k: v for k, v in config.valuation.items() if k != "method"}
        method = config.valuation.get("method", "auto")
        if method == "auto":
            method = "exact" if game.n <= EXACT_MAX_PARTICIPANTS else "stratified"
        if method == "stratified":
            full = (1 << game.n) - 1
            values, used = stratified_shapley(game.utility, game.n, seed=config.seed, **options)
            report = make_report(
                "stratified",
                values,
                names,
                u_empty=game.utility(0),
                u_full=game.utility(full),
                utilities={str(m): u for m, u in game.utility.table.items()},
                evaluations=game.utility.evaluations,
                settings={"rebuild": game.rebuild, "samples": used, **options},
            )
        else:
            report = value_session(game, method, participants=names, **options)
        report.settings["session"] = view.hex_id
        report.settings["config_cid"] = view.created.config_cid
        if config.dp:
            dp = DPConfig(
                clip_norm=float(config.dp["clip_norm"]),
                noise_multiplier=float(config.dp["noise_multiplier"]),
                delta=float(config.dp.get("delta", 1e-5)),
            )
            report.settings["dp_epsilon"] = epsilon(dp, config.rounds)
            report.settings["dp_delta"] = dp.delta
        return report

    def finalize(self, session_id: bytes) -> str:
        """Value, publish the report and post the scores on-chain (once)."""
        view = self.view(session_id)
        state = view.state()
        if state.status != SessionStatus.RUNNING:
            return "already" if state.status != SessionStatus.OPEN else "not_running"
        if state.round < view.config.chain_rounds:
            raise RoundNotOpen(f"Session {view.hex_id} still has rounds to aggregate.")
        report = self.value(view)
        final = view.aggregates()[view.config.chain_rounds - 1]
        scores = report.integer_scores()
        committed = set(state.committed)
        # A participant without updates has value exactly 0; the contract checks it anyway.
        scores = [s if i in committed else 0 for i, s in enumerate(scores)]
        posted = post_final(
            self.sessions,
            self.account,
            self.store,
            session_id,
            scores,
            model_hash=final.digest,
            model_cid=final.cid,
            report=report.to_json().encode(),
        )
        if not posted:
            return "already"
        return f"finalized ({report.method}, {report.evaluations} utilities)"


def post_final(
    sessions: FederatedSession,
    account: LocalAccount,
    store: ContentStore,
    session_id: bytes,
    scores: Sequence[int],
    *,
    model_hash: bytes,
    model_cid: str,
    report: bytes,
) -> bool:
    """Publish ``report`` and post the final model and scores; False if already finalized.

    A ``WrongStatus`` revert means another delivery of the same job finalized first (the
    status was read before sending), so it is an outcome rather than an error.
    """
    report_cid, report_hash = put(store, report)
    try:
        sessions.finalize(
            account,
            session_id,
            scores,
            model_hash=model_hash,
            model_cid=model_cid,
            report_hash=report_hash,
            report_cid=report_cid,
        )
    except ContractRevert as exc:
        if exc.error == "WrongStatus":
            return False
        raise
    return True


def mask_bits(mask: int) -> list[int]:
    """The participant indices set in a 32-bit session mask."""
    return [i for i in range(32) if mask >> i & 1]


def recompute_report(
    coordinator_like: Coordinator, session_id: bytes
) -> tuple[ValuationReport, bytes]:
    """Anyone holding the validation set can recompute the report and its on-chain hash."""
    report = coordinator_like.value(coordinator_like.view(session_id))
    return report, report.digest()
