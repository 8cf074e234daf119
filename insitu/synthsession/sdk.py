"""The SDK of generator sessions: publish the template, create, join, follow, sample.

Example (the data scientist, providers running workers with ``insitu.synthsession.worker_app``)::

    template_cid, algo = publish_generator_template(market.store, schema)  # providers allowlist
    config = GeneratorConfig(template_cid, "0x" + algo.hex(), epsilon=4.0, delta=1e-5)
    created = create_generator_session(market, scientist, assets, config, reward_pool=10**19,
                                       coordinator=coordinator.address)
    wait_accepted(market.sessions, created.session_id)      # insitu.fl.sdk, reused
    market.sessions.start(scientist, created.session_id)    # workers contribute, combine
    wait_status(market.sessions, created.session_id, {SessionStatus.FINALIZED})
    frame = request_synthetic_sample(market, created.session_id, 5000, my_mapping)
    claim_all(market.sessions, anyone, created.session_id)  # after the challenge window

A provider without a worker joins in-process with ``join_generator_session`` (accept now;
call it again once the session runs to fit and commit its contribution).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from eth_account.signers.local import LocalAccount

from insitu.chain.errors import ContractRevert
from insitu.chain.session import SessionCreation, SessionStatus
from insitu.fl.sdk import session_summary
from insitu.market import Marketplace
from insitu.storage import ContentStore
from insitu.synth.api import sample_local
from insitu.synth.generator import DEFAULT_BINS
from insitu.synth.schema import LocalMapping, Schema
from insitu.synthsession.documents import GeneratorConfig, fetch, put, template_bytes
from insitu.synthsession.errors import DocumentMismatch, GeneratorSessionError
from insitu.synthsession.provider import (
    DEFAULT_MAX_EPSILON,
    Outcome,
    Provider,
    ProviderAsset,
    accept_generator_session,
    contribute,
)
from insitu.synthsession.view import GeneratorSessionView

SAMPLEABLE = (SessionStatus.FINALIZED, SessionStatus.CONFIRMED, SessionStatus.SETTLED)


def publish_generator_template(
    store: ContentStore, schema: Schema, n_bins: int = DEFAULT_BINS
) -> tuple[str, bytes]:
    """Put the generator template on IPFS; returns (CID, keccak256 = the algorithm hash)."""
    return put(store, template_bytes(schema, n_bins))


def create_generator_session(
    market: Marketplace,
    scientist: LocalAccount,
    assets: Sequence[bytes],
    config: GeneratorConfig,
    *,
    reward_pool: int,
    coordinator: str,
    accept_window: int = 3600,
    duration: int = 24 * 3600,
    challenge_window: int = 3600,
    salt: bytes | None = None,
) -> SessionCreation:
    """Publish the config document and create the session: prices + pool escrowed.

    Approves the session contract for prices + pool in the marketplace token first.
    """
    sessions = market.sessions
    config_cid, _ = put(market.store, config.to_bytes())
    total = sessions.quote(list(assets), config.algorithm_hash) + reward_pool
    market.token.approve(scientist, sessions.address, total)
    now = int(market.w3.eth.get_block("latest")["timestamp"])
    return sessions.create(
        scientist,
        salt or os.urandom(32),
        list(assets),
        algorithm_hash=config.algorithm_hash,
        rounds=GeneratorConfig.chain_rounds,
        min_participants=config.min_participants,
        accept_deadline=now + accept_window,
        session_deadline=now + duration,
        reward_pool=reward_pool,
        coordinator=coordinator,
        token=market.deployment.token,
        challenge_window=challenge_window,
        config_cid=config_cid,
    )


def join_generator_session(
    market: Marketplace,
    provider: LocalAccount,
    session_id: bytes,
    data: Path,
    mapping: Path,
    *,
    asset_id: bytes | None = None,
    max_epsilon: float = DEFAULT_MAX_EPSILON,
) -> dict[int, Outcome]:
    """Take part as a provider without a worker: accept if open, contribute if running.

    `data` is the private CSV in the provider's local encoding and `mapping` its local mapping
    JSON; `asset_id` defaults to every slot of the session this account provides. The same
    steps the worker's tasks run, so mixing both is safe (each checks the chain first).
    """
    view = GeneratorSessionView(market.sessions, market.store, session_id)
    slots = [
        bytes(p.asset_id)
        for p in view.created.participants
        if p.provider == provider.address and (asset_id is None or bytes(p.asset_id) == asset_id)
    ]
    if not slots:
        raise GeneratorSessionError(
            f"Session {view.hex_id} lists no asset provided by {provider.address}"
            + (f" with id 0x{asset_id.hex()}" if asset_id else "")
            + "; check the session id and the signing key."
        )
    asset = ProviderAsset(Path(data), Path(mapping))
    me = Provider(market.sessions, market.store, provider, dict.fromkeys(slots, asset), max_epsilon)
    status = view.state().status
    if status == SessionStatus.OPEN:
        return accept_generator_session(me, session_id)
    return contribute(me, session_id)


def load_mapping(path: Path | str) -> LocalMapping:
    """A local mapping from its JSON file (``LocalMapping.to_dict``)."""
    return LocalMapping.from_dict(json.loads(Path(path).read_text()))


def fetch_generator(market: Marketplace, session_id: bytes) -> GeneratorSessionView:
    """The finalized session's view, checked: final model == committed aggregate."""
    view = GeneratorSessionView(market.sessions, market.store, session_id)
    status = view.state().status
    if status not in SAMPLEABLE:
        raise GeneratorSessionError(
            f"Session {view.hex_id} is {status.name}: the generator can be sampled once the "
            "session is finalized (`insitu synth session status` shows progress)."
        )
    final = market.sessions.finalization(session_id)
    aggregate = view.aggregate()
    if bytes(final.model_hash) != aggregate.digest or final.model_cid != aggregate.cid:
        raise DocumentMismatch(
            f"Session {view.hex_id}: the finalized model (0x{bytes(final.model_hash).hex()}) "
            "is not the committed generator; challenge the finalization."
        )
    return view


def request_synthetic_sample(
    market: Marketplace,
    session_id: bytes,
    n: int,
    mapping: LocalMapping,
    *,
    seed: int | None = None,
) -> pd.DataFrame:
    """Draw `n` synthetic rows from a finalized session's generator, in `mapping`'s encoding.

    The generator document is fetched from IPFS and checked against the on-chain aggregate
    commitment (keccak256) before use; sampling happens locally, so nobody learns what or how
    much a participant sampled.
    """
    view = fetch_generator(market, session_id)
    doc = view.generator_doc(view.aggregate())
    mixture = doc.mixture()
    mapping.check(mixture.schema)
    return sample_local(mixture, n, mapping, seed=seed)


def generator_session_status(market: Marketplace, session_id: bytes) -> dict[str, Any]:
    """A JSON-friendly summary: the FL summary plus verdicts, gains and ε once finalized."""
    out: dict[str, Any] = dict(session_summary(market.sessions, session_id))
    view = GeneratorSessionView(market.sessions, market.store, session_id)
    with contextlib.suppress(GeneratorSessionError):
        out["epsilon"] = view.config.epsilon
        out["delta"] = view.config.delta
    if "report_cid" in out:
        final = market.sessions.finalization(session_id)
        report = json.loads(fetch(market.store, final.report_cid, final.report_hash))
        out["final_metric"] = report["final_metric"]
        out["participants"] = [
            {k: p.get(k) for k in ("index", "asset", "accepted", "gain", "score", "spent_epsilon")}
            for p in report["participants"]
        ]
    with contextlib.suppress(ContractRevert, GeneratorSessionError):
        out["generator_hash"] = "0x" + view.aggregate().digest.hex()
    return out


__all__ = [
    "create_generator_session",
    "fetch_generator",
    "generator_session_status",
    "join_generator_session",
    "load_mapping",
    "publish_generator_template",
    "request_synthetic_sample",
]
