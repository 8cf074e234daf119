"""The Celery app module of generator-session workers (``app = "insitu.synthsession.worker_app"``).

One module serves both roles; the worker config's ``[options] role`` picks what the listener
watches:

* ``role = "provider"``: ``SessionCreated`` listing one of its assets → accept job
  ``synth-accept:<session>:<organisation>``; ``SessionStarted`` of such a session → contribution
  job ``synth-contrib:<session>:<organisation>``, which fits the DP contribution on the rows of
  ``[assets."0x…"] data`` in the encoding of ``mapping`` (a LocalMapping JSON file) and commits
  it. ``[options] max_epsilon`` (default 10) bounds the ε it agrees to spend per session.
* ``role = "coordinator"`` (``[options] validation = "<csv>"``, optional
  ``validation_mapping = "<json>"``, ``address = "0x..."``): ``SessionStarted`` of sessions it
  coordinates → job ``synth-combine:<session>``: wait for the contributions, combine, commit the
  generator, finalize.

Sessions that are not generator sessions (their config document is another kind) are ignored by
the tasks, so these workers can watch the same contract as FL workers. Heavy imports
(scikit-learn, pandas) happen inside the tasks, so the listener process stays light.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

from celery.signals import worker_ready
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

ACCEPT = "insitu.synth.accept"
CONTRIBUTE = "insitu.synth.contribute"
COMBINE = "insitu.synth.combine"
ROLES = ("provider", "coordinator")

app = make_worker_app("insitu-synth")
log = logging.getLogger(__name__)
#: Held by the warm-up while it imports: a task waits for it rather than importing the same
#: modules concurrently from another thread (which can fail on partially initialised modules).
_warming = threading.Lock()


# ------------------------------------------------------------------ per-process resources


def _provider() -> Any:
    from insitu.synthsession.provider import DEFAULT_MAX_EPSILON, Provider, ProviderAsset

    config = current_worker_config()
    assets = {}
    for asset_id, asset in config.assets.items():
        mapping = asset.options.get("mapping")
        if not mapping:
            raise PermanentJobError(
                "no_mapping",
                f'{config.path}: [assets."{asset_id}"] needs mapping = "<local mapping JSON>".',
            )
        key = bytes.fromhex(asset_id.removeprefix("0x"))
        assets[key] = ProviderAsset(Path(asset.data), Path(mapping))
    return Provider(
        sessions=sessions_for(config),
        store=store_for(config),
        account=signing_account(),
        assets=assets,
        max_epsilon=float(config.options.get("max_epsilon", DEFAULT_MAX_EPSILON)),
    )


@cache
def _combiner() -> Any:
    import json

    import pandas as pd

    from insitu.synth.schema import LocalMapping
    from insitu.synthsession.combiner import Combiner

    config = current_worker_config()
    validation = config.options.get("validation")
    if not validation:
        raise PermanentJobError(
            "no_validation", f"{config.path}: the coordinator needs [options] validation."
        )
    mapping_path = config.options.get("validation_mapping")
    mapping = (
        LocalMapping.from_dict(json.loads(Path(mapping_path).read_text())) if mapping_path else None
    )
    return Combiner(
        sessions=sessions_for(config),
        store=store_for(config),
        account=signing_account(),
        validation=pd.read_csv(validation),
        validation_mapping=mapping,
    )


def _session(payload: dict[str, Any]) -> bytes:
    return bytes.fromhex(str(payload["session"]).removeprefix("0x"))


def _outcomes(result: dict[int, Any]) -> str:
    return ",".join(f"{i}:{o}" for i, o in result.items())


@worker_ready.connect
def _start_warm_up(**_: Any) -> None:
    # In a thread, so the worker takes jobs at once; a job arriving meanwhile waits for it. The
    # lock is taken here, before the thread starts, so that no job can slip in ahead of it.
    _warming.acquire()
    threading.Thread(target=_warm_up, name="synth-warm-up", daemon=True).start()


def _warm_up() -> None:
    """Pay the scientific imports and the keystore's scrypt before the first job, not in it."""
    try:
        if current_worker_config().options.get("role", "provider") == "coordinator":
            _combiner()
        else:
            _provider()
    except Exception:
        # The first job repeats this and fails with a clear error; the process must not die.
        log.exception("warm-up of the synth worker process failed")
    finally:
        _warming.release()


def _after_warm_up() -> None:
    with _warming:
        pass


# ------------------------------------------------------------------ tasks


@job_task(app, name=ACCEPT, max_attempts=5, backoff_base=0.5, backoff_max=5.0)
def accept(ctx: JobContext, payload: dict[str, Any]) -> str | None:
    """Accept a generator session listing this provider's assets (within its ε budget)."""
    _after_warm_up()
    from insitu.synthsession.errors import NotAGeneratorSession
    from insitu.synthsession.provider import accept_generator_session

    ctx.ensure_owner()
    try:
        return _outcomes(accept_generator_session(_provider(), _session(payload)))
    except NotAGeneratorSession:
        return "not a generator session"


@job_task(app, name=CONTRIBUTE, max_attempts=20, backoff_base=0.2, backoff_max=2.0)
def contribute(ctx: JobContext, payload: dict[str, Any]) -> str | None:
    """Fit the DP contribution next to the data and commit it (idempotent)."""
    _after_warm_up()
    from insitu.synthsession.errors import NotAGeneratorSession, NotReady
    from insitu.synthsession.provider import contribute as run

    ctx.ensure_owner()
    try:
        return _outcomes(run(_provider(), _session(payload)))
    except NotAGeneratorSession:
        return "not a generator session"
    except NotReady as exc:
        raise TransientError(str(exc)) from exc


@job_task(app, name=COMBINE, max_attempts=20, backoff_base=0.2, backoff_max=2.0)
def combine(ctx: JobContext, payload: dict[str, Any]) -> str | None:
    """Wait for the contributions (round timeout), combine, commit the generator, finalize."""
    _after_warm_up()
    from insitu.synthsession.errors import NotAGeneratorSession, NotReady

    sid = _session(payload)
    # The round's clock starts at the first delivery and survives re-deliveries.
    key = f"insitu:synth:opened:{sid.hex()}"
    ctx.redis.set(key, str(time.time()), nx=True, ex=7 * 24 * 3600)
    stored = ctx.redis.get(key)
    opened_at = float(stored) if isinstance(stored, bytes | str) else time.time()
    try:
        return str(_combiner().run(sid, opened_at))
    except NotAGeneratorSession:
        return "not a generator session"
    except NotReady as exc:
        raise TransientError(str(exc)) from exc


# ------------------------------------------------------------------ the listener


def listener_spec(config: WorkerConfig, web3: Web3) -> ListenerSpec:
    """Which session events this worker acts on, by role."""
    role = config.options.get("role", "provider")
    if role not in ROLES:
        raise PermanentJobError("bad_role", f"{config.path}: [options] role must be in {ROLES}.")
    sessions = FederatedSession(web3, config.contracts["FederatedSession"])
    events = sessions.contract.events
    mine = {a.lower() for a in config.assets}
    me = str(config.options.get("address", "")).lower()
    org = config.organisation

    def route(event: ChainEvent) -> JobRequest | None:
        sid_hex = str(event.args["sessionId"])
        sid = bytes.fromhex(sid_hex.removeprefix("0x"))
        payload = {"session": sid_hex}
        if role == "provider":
            if event.name == "SessionCreated":
                assets = {str(p["assetId"]).lower() for p in event.args["participants"]}
                if not assets & mine:
                    return None
                return JobRequest(ACCEPT, f"synth-accept:{sid_hex}:{org}", payload)
            listed = {"0x" + bytes(p.asset_id).hex() for p in sessions.participants(sid)}
            if not listed & mine:
                return None
            return JobRequest(CONTRIBUTE, f"synth-contrib:{sid_hex}:{org}", payload)
        if sessions.created(sid).coordinator.lower() != me:
            return None
        return JobRequest(COMBINE, f"synth-combine:{sid_hex}", payload)

    subscribed = [events.SessionStarted]
    if role == "provider":
        subscribed.append(events.SessionCreated)
    return ListenerSpec([Subscription(sessions.address, subscribed)], route)
