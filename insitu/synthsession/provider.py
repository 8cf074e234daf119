"""A provider's part of a generator session: accept it, fit the DP contribution, commit it.

Runs next to the private data (inside the provider's worker, or in-process through
``sdk.join_generator_session``): the rows are read from the asset's data file, converted to the
schema with the provider's own local mapping file, and only the noisy generator parameters go to
IPFS (their keccak256 on-chain). Both steps check the chain first, so a re-delivered task or a
crash between the upload and the transaction ends in the right state.

The DP noise is seeded from the provider's key, the session and the slot: a re-run after a crash
releases the *same* noisy parameters, so a retry costs no extra privacy budget (two independent
noisy releases of the same statistics would compose). Nobody without the key can reproduce it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pandas as pd
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from insitu.chain.errors import ContractRevert
from insitu.chain.session import FederatedSession, SessionStatus
from insitu.storage import ContentStore
from insitu.synth.api import fit_contribution
from insitu.synth.contribution import Contribution
from insitu.synth.schema import LocalMapping
from insitu.synthsession.documents import contribution_label, put
from insitu.synthsession.errors import GeneratorSessionError, NotReady
from insitu.synthsession.view import GeneratorSessionView

DEFAULT_MAX_EPSILON = 10.0


class Outcome(StrEnum):
    """What a provider step did."""

    ACCEPTED = "accepted"
    COMMITTED = "committed"
    ALREADY = "already"  # done before (a re-delivery)
    LATE = "late"  # the combination closed without us
    NOT_OPEN = "not_open"  # the session is not in a state where this step applies
    REFUSED = "refused"  # the declared budget exceeds what this provider allows


@dataclass(frozen=True)
class ProviderAsset:
    """One dataset the provider serves: its private rows and its local encoding."""

    data: Path
    mapping: Path

    def rows(self) -> pd.DataFrame:
        return pd.read_csv(self.data)

    def local_mapping(self) -> LocalMapping:
        return LocalMapping.from_dict(json.loads(Path(self.mapping).read_text()))


@dataclass
class Provider:
    """What a provider's worker holds: its key, IPFS, the session contract, its assets."""

    sessions: FederatedSession
    store: ContentStore
    account: LocalAccount
    assets: dict[bytes, ProviderAsset]
    #: The largest ε this provider spends per session; ``math.inf`` also allows no-DP sessions.
    max_epsilon: float = DEFAULT_MAX_EPSILON
    noise_secret: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if not self.noise_secret:
            self.noise_secret = keccak(b"insitu-synth-noise" + bytes(self.account.key))

    def my_indexes(self, view: GeneratorSessionView) -> list[int]:
        """Slots of this provider's assets (that it may sign for) in the session."""
        return [
            i
            for i, p in enumerate(view.created.participants)
            if bytes(p.asset_id) in self.assets and p.provider == self.account.address
        ]

    def noise_seed(self, session_id: bytes, index: int) -> int:
        digest = keccak(self.noise_secret + session_id + index.to_bytes(1, "big"))
        return int.from_bytes(digest[:8], "big")

    def allows(self, epsilon: float | None) -> bool:
        if epsilon is None:
            return math.isinf(self.max_epsilon)
        return epsilon <= self.max_epsilon


def accept_generator_session(provider: Provider, session_id: bytes) -> dict[int, Outcome]:
    """Accept every slot of this provider in an open generator session within its budget."""
    view = GeneratorSessionView(provider.sessions, provider.store, session_id)
    out: dict[int, Outcome] = {}
    for index in provider.my_indexes(view):
        state = view.state()
        if state.status != SessionStatus.OPEN:
            out[index] = Outcome.NOT_OPEN
        elif state.accepted_mask >> index & 1:
            out[index] = Outcome.ALREADY
        elif not provider.allows(view.config.epsilon):
            out[index] = Outcome.REFUSED
        else:
            _ = view.template  # refuse sessions whose template cannot be read or verified
            provider.sessions.accept(provider.account, session_id, index)
            out[index] = Outcome.ACCEPTED
    return out


def build_contribution(provider: Provider, view: GeneratorSessionView, index: int) -> Contribution:
    """Fit slot `index`'s DP contribution on the private rows (nothing else leaves)."""
    config = view.config
    template = view.template
    if not provider.allows(config.epsilon):
        raise GeneratorSessionError(
            f"Session {view.hex_id} declares epsilon={config.epsilon}, above this provider's "
            f"max_epsilon={provider.max_epsilon}; it should not have been accepted."
        )
    asset = provider.assets[bytes(view.created.participants[index].asset_id)]
    mapping = asset.local_mapping()
    mapping.check(template.schema)
    return fit_contribution(
        asset.rows(),
        mapping,
        template.schema,
        config.epsilon,
        config.delta,
        seed=provider.noise_seed(view.session_id, index),
        participant=contribution_label(view.hex_id, index),
        n_bins=template.n_bins,
    )


def contribute(provider: Provider, session_id: bytes) -> dict[int, Outcome]:
    """Fit and commit the contribution of each of this provider's slots (idempotent)."""
    view = GeneratorSessionView(provider.sessions, provider.store, session_id)
    return {i: _contribute_one(provider, view, i) for i in provider.my_indexes(view)}


def _contribute_one(provider: Provider, view: GeneratorSessionView, index: int) -> Outcome:
    state = view.state()
    if state.status == SessionStatus.OPEN:
        raise NotReady(f"Session {view.hex_id} has not started yet; retry once it has.")
    if state.status != SessionStatus.RUNNING or not state.accepted_mask >> index & 1:
        return Outcome.NOT_OPEN
    if state.round > 0:
        return Outcome.LATE
    if state.round_mask >> index & 1:
        return Outcome.ALREADY
    contribution = build_contribution(provider, view, index)
    cid, digest = put(provider.store, contribution.to_json())
    try:
        provider.sessions.commit_update(provider.account, view.session_id, 0, index, digest, cid)
    except ContractRevert as exc:
        if exc.error == "WrongRound":
            return Outcome.LATE
        if exc.error == "AlreadyCommitted":
            return Outcome.ALREADY
        raise
    return Outcome.COMMITTED
