"""A bank's part of a session: accept it, and in each round train locally and commit an update.

Runs inside the bank's worker next to its private data: the rows are read from the path in the
worker config and never leave; only the update document (parameters, sample count, training
loss) goes to IPFS, and its hash on-chain.

Both steps are idempotent and check the chain before acting, so a re-delivered task, a task for
a round that has already closed (the bank was late or its worker was down: it is dropped for that
round and simply takes part in the next one) or a crash between the IPFS upload and the
transaction all end in the right state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from insitu.chain.errors import ContractRevert
from insitu.chain.session import FederatedSession, SessionStatus
from insitu.federated.client import local_update
from insitu.federated.params import flatten, unflatten
from insitu.federated.privacy import clip
from insitu.fl.documents import UpdateDoc, put
from insitu.fl.errors import RoundNotOpen
from insitu.fl.view import SessionView, stats_of
from insitu.storage import ContentStore

#: Private data of an asset (by id) as a DataFrame; provided by the worker from its config.
DataLoader = Callable[[bytes], pd.DataFrame]


class Outcome(StrEnum):
    """What a participant task did."""

    COMMITTED = "committed"
    ACCEPTED = "accepted"
    ALREADY = "already"  # done before (a re-delivery)
    LATE = "late"  # the round closed without us: dropped for this round only
    NOT_OPEN = "not_open"  # the session is not in a state where this step applies


@dataclass
class Bank:
    """What a bank's worker holds: its signing key, IPFS, the session contract, its data."""

    sessions: FederatedSession
    store: ContentStore
    account: LocalAccount
    load_data: DataLoader
    assets: frozenset[bytes]

    def my_indexes(self, view: SessionView) -> list[int]:
        """Positions of this bank's assets (that it may sign for) in the session's list."""
        return [
            i
            for i, p in enumerate(view.created.participants)
            if bytes(p.asset_id) in self.assets and p.provider == self.account.address
        ]


def round_seed(session_id: bytes, chain_round: int, index: int) -> int:
    """Deterministic seed of a local training run: re-runs produce the same update."""
    digest = keccak(session_id + chain_round.to_bytes(2, "big") + index.to_bytes(1, "big"))
    return int.from_bytes(digest[:4], "big")


def accept_session(bank: Bank, session_id: bytes) -> dict[int, Outcome]:
    """Accept every participation of this bank in an open session."""
    view = SessionView(bank.sessions, bank.store, session_id)
    out: dict[int, Outcome] = {}
    for index in bank.my_indexes(view):
        state = view.state()
        if state.status != SessionStatus.OPEN:
            out[index] = Outcome.NOT_OPEN
        elif state.accepted_mask >> index & 1:
            out[index] = Outcome.ALREADY
        else:
            _ = view.config  # refuse sessions whose config cannot be read
            bank.sessions.accept(bank.account, session_id, index)
            out[index] = Outcome.ACCEPTED
    return out


def build_update(bank: Bank, view: SessionView, chain_round: int, index: int) -> UpdateDoc:
    """Train on the private data (or compute scaler statistics in the statistics round)."""
    config = view.config
    participant = view.created.participants[index]
    frame = bank.load_data(bytes(participant.asset_id))
    X = frame[config.features]
    y = frame[config.target].to_numpy(dtype=int)
    t = config.training_round(chain_round)
    if t is None:
        stats = stats_of(view.raw_template, X)
        return UpdateDoc(view.hex_id, chain_round, index, len(frame), stats=stats)
    template = view.template()
    g = view.global_params(chain_round, template, X)
    local = config.local
    fit = {
        "epochs": int(local.get("epochs", 1)),
        "learning_rate": float(local.get("learning_rate", 0.1))
        * float(local.get("lr_decay", 1.0)) ** t,
        "batch_size": int(local.get("batch_size", 64)),
    }
    if config.strategy.get("name") == "fedprox":
        fit["fedprox_mu"] = float(config.strategy.get("mu", 0.01))
    update = local_update(
        g, template, X, y, config.classes, seed=round_seed(view.session_id, chain_round, index),
        **fit,
    )  # fmt: skip
    params = update.params
    if config.dp:
        # Clip before the update leaves the bank: the coordinator's noise is calibrated to it.
        delta, _ = clip(flatten(params) - flatten(g), float(config.dp["clip_norm"]))
        params = unflatten(flatten(g) + delta, g)
    return UpdateDoc(
        view.hex_id, chain_round, index, update.n_samples, params=params, metrics=update.metrics
    )


def participate(bank: Bank, session_id: bytes, chain_round: int) -> dict[int, Outcome]:
    """Play on-chain round `chain_round` for each of this bank's participations."""
    view = SessionView(bank.sessions, bank.store, session_id)
    out: dict[int, Outcome] = {}
    for index in bank.my_indexes(view):
        out[index] = _participate_one(bank, view, chain_round, index)
    return out


def _participate_one(bank: Bank, view: SessionView, chain_round: int, index: int) -> Outcome:
    state = view.state()
    if state.status != SessionStatus.RUNNING or not state.accepted_mask >> index & 1:
        return Outcome.NOT_OPEN
    if state.round > chain_round:
        return Outcome.LATE
    if state.round < chain_round:
        # The event that opened this round is ahead of the node we read: let the task retry.
        raise RoundNotOpen(
            f"Round {chain_round} of session {view.hex_id} is not open yet (current "
            f"{state.round}); retry once the node has seen its opening event."
        )
    if state.round_mask >> index & 1:
        return Outcome.ALREADY
    doc = build_update(bank, view, chain_round, index)
    cid, digest = put(bank.store, doc.to_bytes())
    try:
        bank.sessions.commit_update(bank.account, view.session_id, chain_round, index, digest, cid)
    except ContractRevert as exc:
        if exc.error == "WrongRound":
            return Outcome.LATE
        if exc.error == "AlreadyCommitted":
            return Outcome.ALREADY
        raise
    return Outcome.COMMITTED


def data_from_csv(paths: dict[bytes, str]) -> DataLoader:
    """A loader over CSV files keyed by asset id (what the worker config lists)."""

    def load(asset: bytes) -> pd.DataFrame:
        return pd.read_csv(paths[asset])

    return load


__all__ = [
    "Bank",
    "DataLoader",
    "Outcome",
    "accept_session",
    "build_update",
    "data_from_csv",
    "participate",
    "round_seed",
]
