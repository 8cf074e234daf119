"""The data scientist's side of a session: publish the template, create, start, watch, claim.

Example::

    store = open_store(None, settings.ipfs_store_dir)
    template_cid, algo = publish_template(store, pipeline)      # banks allowlist `algo`
    config = SessionConfig(template_cid, "0x" + algo.hex(), features, "Class", [0, 1], rounds=5,
                           stats_round=True)
    created = create_session(sessions, store, scientist, assets, config, reward_pool=10**20,
                             coordinator=coordinator.address, token=token)
    wait_accepted(sessions, created.session_id)                  # banks' workers accept
    sessions.start(scientist, created.session_id)                # rounds run on the workers
    wait_status(sessions, created.session_id, {SessionStatus.FINALIZED})
    claim_all(sessions, anyone, created.session_id)              # after the challenge window
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from sklearn.base import BaseEstimator

from insitu.chain.errors import ContractRevert
from insitu.chain.session import FederatedSession, SessionCreation, SessionStatus
from insitu.chain.types import TxReceipt
from insitu.fl.documents import SessionConfig, put, template_bytes
from insitu.fl.errors import SessionError
from insitu.storage import ContentStore


def publish_template(store: ContentStore, template: BaseEstimator) -> tuple[str, bytes]:
    """Put the pickled template on IPFS; returns (CID, keccak256 = the algorithm hash)."""
    return put(store, template_bytes(template))


def create_session(
    sessions: FederatedSession,
    store: ContentStore,
    scientist: LocalAccount,
    assets: Sequence[bytes],
    config: SessionConfig,
    *,
    reward_pool: int,
    coordinator: str,
    token: str,
    accept_window: int = 3600,
    duration: int = 24 * 3600,
    challenge_window: int = 3600,
    salt: bytes | None = None,
    now: int | None = None,
) -> SessionCreation:
    """Publish the config document and create the session (prices + pool escrowed).

    ERC-20 sessions need an allowance of prices + pool for the session contract first.
    """
    config_cid, _ = put(store, config.to_bytes())
    t = now if now is not None else int(sessions.w3.eth.get_block("latest")["timestamp"])
    return sessions.create(
        scientist,
        salt or os.urandom(32),
        list(assets),
        algorithm_hash=bytes.fromhex(config.template_hash.removeprefix("0x")),
        rounds=config.chain_rounds,
        min_participants=config.min_participants,
        accept_deadline=t + accept_window,
        session_deadline=t + duration,
        reward_pool=reward_pool,
        coordinator=coordinator,
        token=token,
        challenge_window=challenge_window,
        config_cid=config_cid,
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> None:
    """Poll `condition` until true; raise `SessionError` naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SessionError(
                f"Timed out after {timeout:.0f} s waiting for {what}; check the workers' logs "
                "(`insitu worker status`) and that their listeners watch this contract."
            )
        time.sleep(poll)


def wait_accepted(
    sessions: FederatedSession, session: bytes, count: int | None = None, timeout: float = 60.0
) -> int:
    """Wait until `count` (default: all) participants accepted; returns the accepted mask."""
    need = count if count is not None else len(sessions.participants(session))
    wait_until(
        lambda: bin(sessions.get(session).accepted_mask).count("1") >= need,
        timeout,
        f"{need} participants to accept",
    )
    return sessions.get(session).accepted_mask


def wait_status(
    sessions: FederatedSession,
    session: bytes,
    statuses: Collection[SessionStatus],
    timeout: float = 300.0,
) -> SessionStatus:
    """Wait until the session reaches one of `statuses`."""
    wait_until(
        lambda: sessions.status(session) in statuses,
        timeout,
        f"session status in {[s.name for s in statuses]}",
    )
    return sessions.status(session)


@dataclass(frozen=True)
class Claims:
    """The claim transactions of a session, by participant index (and the remainder)."""

    participants: dict[int, TxReceipt]
    remainder: TxReceipt | None


def claim_all(sessions: FederatedSession, sender: LocalAccount, session: bytes) -> Claims:
    """Credit every participant that worked, then the data scientist's remainder."""
    state = sessions.get(session)
    if state.status not in (SessionStatus.FINALIZED, SessionStatus.CONFIRMED):
        raise SessionError(
            f"Session 0x{session.hex()} is {state.status.name}: claims open after finalization "
            "and the challenge window."
        )
    done = set(state.claimed)
    receipts = {i: sessions.claim(sender, session, i) for i in state.committed if i not in done}
    remainder = None if state.remainder_claimed else sessions.claim_remainder(sender, session)
    return Claims(receipts, remainder)


def session_summary(sessions: FederatedSession, session: bytes) -> dict[str, object]:
    """A JSON-friendly summary: status, round, who accepted/committed, scores once finalized."""
    state = sessions.get(session)
    out: dict[str, object] = {
        "session": "0x" + bytes(session).hex(),
        "status": state.status.name,
        "round": state.round,
        "rounds": state.rounds,
        "accepted": state.accepted,
        "committed": state.committed,
        "claimed": state.claimed,
        "held": state.held,
        "pool": state.pool,
    }
    if state.status not in (SessionStatus.OPEN, SessionStatus.RUNNING, SessionStatus.NONE):
        with contextlib.suppress(ContractRevert):
            final = sessions.finalization(session)
            out["scores"] = list(final.scores)
            out["report_cid"] = final.report_cid
            out["model_cid"] = final.model_cid
            out["challenge_end"] = final.challenge_end
    return out
