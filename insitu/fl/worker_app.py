"""The Celery app module of federated-learning workers (``app = "insitu.fl.worker_app"``).

One module serves both roles; the worker config's ``[options] role`` picks what the listener
watches:

* ``role = "participant"`` (a bank): ``SessionCreated`` listing one of its assets → accept job;
  ``SessionStarted`` / ``AggregateCommitted`` of such a session → the next round's job, keyed
  ``fl-part:<session>:<round>:<organisation>``, which trains on the private data of the assets in
  ``[assets]`` and commits the update;
* ``role = "coordinator"`` (``[options] validation = "<csv>"``, ``address = "0x..."``):
  ``SessionStarted`` / ``AggregateCommitted`` of sessions it coordinates → close the round
  (job ``fl-coord:<session>:<round>``), and after the last round value and finalize
  (``fl-final:<session>``).

Both need ``[contracts] FederatedSession`` and a ``[keystore]``. Heavy imports (scikit-learn,
pandas) happen inside the tasks, so the listener process stays light.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from web3 import Web3

from insitu.chain.session import FederatedSession
from insitu.worker import (
    ChainEvent,
    JobContext,
    JobRequest,
    ListenerSpec,
    PermanentJobError,
    Subscription,
    TransientError,
    WorkerConfig,
    current_worker_config,
    job_task,
    make_worker_app,
)
from insitu.worker.resources import sessions_for, signing_account, store_for

ACCEPT = "insitu.fl.accept"
PARTICIPATE = "insitu.fl.participate"
COORDINATE = "insitu.fl.coordinate"
FINALIZE = "insitu.fl.finalize"
ROLES = ("participant", "coordinator")

app = make_worker_app("insitu-fl")


# ------------------------------------------------------------------ per-process resources


def _bank() -> Any:
    from insitu.fl.participant import Bank, data_from_csv

    config = current_worker_config()
    paths = {bytes.fromhex(a.removeprefix("0x")): str(c.data) for a, c in config.assets.items()}
    return Bank(
        sessions=sessions_for(config),
        store=store_for(config),
        account=signing_account(),
        load_data=data_from_csv(paths),
        assets=frozenset(paths),
    )


@cache
def _coordinator() -> Any:
    import pandas as pd
    from eth_utils import keccak

    from insitu.fl.coordinator import Coordinator

    config = current_worker_config()
    validation = config.options.get("validation")
    if not validation:
        raise PermanentJobError(
            "no_validation", f"{config.path}: the coordinator needs [options] validation."
        )
    account = signing_account()
    return Coordinator(
        sessions=sessions_for(config),
        store=store_for(config),
        account=account,
        validation=pd.read_csv(validation),
        dp_secret=keccak(b"insitu-dp-noise" + bytes(account.key)),
    )


def _transient(exc: Exception) -> TransientError:
    return TransientError(f"{type(exc).__name__}: {exc}")


def _session(payload: dict[str, Any]) -> bytes:
    return bytes.fromhex(str(payload["session"]).removeprefix("0x"))


# ------------------------------------------------------------------ tasks


@job_task(app, name=ACCEPT, max_attempts=5, backoff_base=0.5, backoff_max=5.0)
def accept(ctx: JobContext, payload: dict[str, Any]) -> str | None:
    """Accept a session listing this bank's assets."""
    from insitu.fl.participant import accept_session

    ctx.ensure_owner()
    result = accept_session(_bank(), _session(payload))
    return ",".join(f"{i}:{o}" for i, o in result.items())


@job_task(app, name=PARTICIPATE, max_attempts=20, backoff_base=0.2, backoff_max=2.0)
def participate(ctx: JobContext, payload: dict[str, Any]) -> str | None:
    """Train on the private data and commit the update of one round (idempotent)."""
    from insitu.fl.errors import RoundNotOpen
    from insitu.fl.participant import participate as run

    ctx.ensure_owner()
    try:
        result = run(_bank(), _session(payload), int(payload["round"]))
    except RoundNotOpen as exc:
        raise _transient(exc) from exc
    return ",".join(f"{i}:{o}" for i, o in result.items())


@job_task(app, name=COORDINATE, max_attempts=20, backoff_base=0.2, backoff_max=2.0)
def coordinate(ctx: JobContext, payload: dict[str, Any]) -> str | None:
    """Close one round: wait for updates (round timeout), aggregate, commit."""
    from insitu.fl.errors import RoundNotOpen

    sid, r = _session(payload), int(payload["round"])
    # The round's clock starts at the first delivery and survives re-deliveries.
    key = f"insitu:fl:opened:{sid.hex()}:{r}"
    ctx.redis.set(key, str(time.time()), nx=True, ex=7 * 24 * 3600)
    opened_at = float(ctx.redis.get(key) or time.time())
    try:
        return _coordinator().run_round(sid, r, opened_at)
    except RoundNotOpen as exc:
        raise _transient(exc) from exc


@job_task(app, name=FINALIZE, max_attempts=10, backoff_base=0.5, backoff_max=5.0)
def finalize(ctx: JobContext, payload: dict[str, Any]) -> str | None:
    """Value the contributions, publish the report and post the scores."""
    from insitu.fl.errors import RoundNotOpen

    try:
        return _coordinator().finalize(_session(payload))
    except RoundNotOpen as exc:
        raise _transient(exc) from exc


# ------------------------------------------------------------------ the listener


def listener_spec(config: WorkerConfig, web3: Web3) -> ListenerSpec:
    """Which session events this worker acts on, by role."""
    role = config.options.get("role", "participant")
    if role not in ROLES:
        raise PermanentJobError("bad_role", f"{config.path}: [options] role must be in {ROLES}.")
    sessions = FederatedSession(web3, config.contracts["FederatedSession"])
    events = sessions.contract.events
    mine = {a.lower() for a in config.assets}
    me = str(config.options.get("address", "")).lower()
    org = config.organisation

    def in_session(sid: bytes) -> bool:
        return any("0x" + bytes(p.asset_id).hex() in mine for p in sessions.participants(sid))

    def coordinated(sid: bytes) -> bool:
        return sessions.created(sid).coordinator.lower() == me

    def route(event: ChainEvent) -> JobRequest | None:
        sid_hex = str(event.args["sessionId"])
        sid = bytes.fromhex(sid_hex.removeprefix("0x"))
        if event.name == "SessionCreated":
            if role != "participant":
                return None
            assets = {str(p["assetId"]).lower() for p in event.args["participants"]}
            if not assets & mine:
                return None
            return JobRequest(ACCEPT, f"fl-accept:{sid_hex}:{org}", {"session": sid_hex})
        next_round = 0 if event.name == "SessionStarted" else int(event.args["round"]) + 1
        rounds = sessions.created(sid).terms.rounds
        if role == "participant":
            if next_round >= rounds or not in_session(sid):
                return None
            return JobRequest(
                PARTICIPATE,
                f"fl-part:{sid_hex}:{next_round}:{org}",
                {"session": sid_hex, "round": next_round},
            )
        if not coordinated(sid):
            return None
        if next_round >= rounds:
            return JobRequest(FINALIZE, f"fl-final:{sid_hex}", {"session": sid_hex})
        return JobRequest(
            COORDINATE,
            f"fl-coord:{sid_hex}:{next_round}",
            {"session": sid_hex, "round": next_round},
        )

    subscribed = [events.SessionStarted, events.AggregateCommitted]
    if role == "participant":
        subscribed.append(events.SessionCreated)
    return ListenerSpec([Subscription(sessions.address, subscribed)], route)
