"""``JobRunner`` and the ``job_task`` decorator: idempotent, locked, retried Celery tasks.

A job task is declared on a Celery app from ``make_celery``::

    @job_task(app, name="insitu.compute.run", on_permanent_failure=reject_on_chain)
    def run_compute(ctx: JobContext, payload: dict[str, Any]) -> str | None:
        ...  # raise TransientError to retry, PermanentJobError(code, msg) to give up
        return result_cid  # stored as the job's result_ref

and enqueued with ``run_compute.apply_async(kwargs={"job_id": ..., "payload": {...}})`` (or
``enqueue_job`` / the listener). Each delivery of the message goes through ``JobRunner.run``:

1. a job recorded done or failed is skipped (so a fulfilled job is never re-run);
2. the job's lock is claimed (``SET NX`` + expiry); if another worker holds it, the message is
   retried after the lock's remaining lifetime, which does not count as an attempt;
3. the body runs while a heartbeat thread extends the lock;
4. the outcome is recorded under the lock: done (+ ``result_ref``), a transient error (retry with
   exponential backoff and jitter until ``max_attempts``), or a permanent error (dead letter,
   then ``on_permanent_failure``).

Semantics: at most one body of a job runs at a time (as long as its heartbeat reaches Redis
within the lock's lifetime), a job is recorded done exactly once, and no body starts after that.
A body may *start* more than once: when its worker is killed mid-job, Celery redelivers the
message and the body runs again from the top. Effects outside Redis (an on-chain fulfilment, an
IPFS upload) must therefore be safe to repeat or check first whether they already happened;
``ctx.ensure_owner()`` right before such an effect narrows the window further.
"""

from __future__ import annotations

import logging
import random
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import redis
import requests
from celery import Celery, Task

from insitu.worker.errors import PermanentJobError, TransientError, WorkerError
from insitu.worker.jobs import Claim, JobRecord, JobStore

log = logging.getLogger("insitu.worker")

#: Failures of infrastructure that usually come back: retried like ``TransientError``.
DEFAULT_TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError,
    redis.ConnectionError,
    redis.TimeoutError,
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)

#: ``on_permanent_failure(job_id, payload, error)``: e.g. reject the agreement on-chain.
FailureHook = Callable[[str, dict[str, Any], PermanentJobError], None]
JobBody = Callable[["JobContext", dict[str, Any]], str | None]


@dataclass
class JobContext:
    """What a job body gets besides its payload."""

    job_id: str
    attempt: int
    store: JobStore
    claim: Claim
    task: Task
    _lost: threading.Event = field(default_factory=threading.Event)

    @property
    def redis(self) -> redis.Redis:
        return self.store.client

    @property
    def lock_lost(self) -> bool:
        return self._lost.is_set()

    def ensure_owner(self) -> None:
        """Raise ``TransientError`` unless this worker still holds the job's lock.

        Call it right before an effect that must not happen twice: if the lock expired (the
        heartbeat could not reach Redis), another worker may be running the job now.
        """
        if self._lost.is_set() or not self.store.extend(self.claim):
            self._lost.set()
            raise TransientError(f"job {self.job_id}: lock lost to another worker")


class _Heartbeat(threading.Thread):
    """Extends the job's lock every third of its lifetime until stopped."""

    def __init__(self, store: JobStore, claim: Claim, lost: threading.Event) -> None:
        super().__init__(name=f"heartbeat-{claim.job_id}", daemon=True)
        self.store = store
        self.claim = claim
        self.lost = lost
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = self.claim.ttl_ms / 3000
        while not self.stopped.wait(interval):
            try:
                if not self.store.extend(self.claim):
                    self.lost.set()
                    log.warning("job %s: lock expired and was lost", self.claim.job_id)
                    return
            except redis.RedisError as exc:
                # Keep trying: the lock survives a blip shorter than its lifetime.
                log.warning("job %s: heartbeat failed (%s)", self.claim.job_id, exc)


@dataclass
class JobRunner:
    """Runs one job body with the check-done → claim → run → record → release protocol."""

    body: JobBody
    kind: str
    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    on_permanent_failure: FailureHook | None = None
    transient: tuple[type[BaseException], ...] = DEFAULT_TRANSIENT

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number ``attempt``: exponential, capped, with jitter in [½, 1]."""
        delay = min(self.backoff_max, self.backoff_base * 2 ** max(attempt - 1, 0))
        return delay * (0.5 + random.random() / 2)

    def run(
        self,
        task: Task,
        store: JobStore,
        lock_ttl: float,
        job_id: str,
        payload: dict[str, Any],
        *,
        visibility_timeout: float | None = None,
    ) -> dict[str, Any]:
        """One delivery of the job's message; ``visibility_timeout`` bounds a wait for the lock."""
        try:
            skipped = self._skip_if_finished(store.get(job_id))
            if skipped is not None:
                return skipped
            claim = store.claim(job_id, lock_ttl)
            if claim is None:
                # Another delivery of this job is running (or died and its lock has not yet
                # expired): look again once the lock could have expired.
                wait = store.lock_ttl(job_id) + 0.2
                if visibility_timeout:
                    # A worker holds a countdown message unacknowledged until it is due; held
                    # past the visibility timeout, the broker hands out a second copy of it.
                    wait = max(0.2, min(wait, 0.8 * visibility_timeout))
                log.info("job %s: locked by another worker, checking again in %.1f s", job_id, wait)
                raise task.retry(countdown=wait, max_retries=None)
            attempt = store.begin_attempt(claim, self.kind)
        except redis.RedisError as exc:
            log.warning("job %s: Redis unavailable before start (%s); retrying", job_id, exc)
            raise task.retry(countdown=self.backoff(1), max_retries=None) from exc
        if attempt == -1:
            store.release(claim)
            return self._skip_if_finished(store.get(job_id)) or {"job_id": job_id}
        if attempt == 0:
            raise task.retry(countdown=0.5, max_retries=None)

        ctx = JobContext(job_id=job_id, attempt=attempt, store=store, claim=claim, task=task)
        heartbeat = _Heartbeat(store, claim, ctx._lost)
        heartbeat.start()
        log.info("job %s (%s): attempt %d started", job_id, self.kind, attempt)
        try:
            result_ref = self.body(ctx, payload)
        except PermanentJobError as exc:
            heartbeat.stopped.set()
            return self._fail_permanently(store, claim, payload, exc, attempt)
        except self.transient as exc:
            heartbeat.stopped.set()
            return self._retry_or_give_up(task, store, claim, payload, exc, attempt)
        except Exception as exc:
            heartbeat.stopped.set()
            # A bug or crash in the body: retrying would most likely fail the same way.
            error = PermanentJobError("unexpected_error", _describe(exc))
            log.error("job %s: unexpected error\n%s", job_id, traceback.format_exc())
            return self._fail_permanently(store, claim, payload, error, attempt)
        finally:
            heartbeat.stopped.set()
        if not store.complete(claim, result_ref):
            # Our lock expired and another delivery took over; its outcome is the one recorded.
            log.warning("job %s: finished but the lock was lost; result not recorded", job_id)
            return {"job_id": job_id, "state": "lost", "attempt": attempt}
        log.info("job %s: done (attempt %d)", job_id, attempt)
        return {"job_id": job_id, "state": "done", "result_ref": result_ref, "attempt": attempt}

    # -- outcomes ----------------------------------------------------------------------------

    @staticmethod
    def _skip_if_finished(record: JobRecord | None) -> dict[str, Any] | None:
        if record is None or not record.state.terminal:
            return None
        log.info("job %s: already %s, not running it again", record.job_id, record.state)
        return {"job_id": record.job_id, "state": record.state.value, "skipped": True}

    def _retry_or_give_up(
        self,
        task: Task,
        store: JobStore,
        claim: Claim,
        payload: dict[str, Any],
        exc: BaseException,
        attempt: int,
    ) -> dict[str, Any]:
        message = _describe(exc)
        if attempt >= self.max_attempts:
            error = PermanentJobError(
                "retries_exhausted", f"gave up after {attempt} attempts; last error: {message}"
            )
            return self._fail_permanently(store, claim, payload, error, attempt)
        delay = self.backoff(attempt)
        log.warning(
            "job %s: transient error on attempt %d (%s); retrying in %.1f s",
            claim.job_id, attempt, message, delay,
        )  # fmt: skip
        store.schedule_retry(claim, message)
        raise task.retry(countdown=delay, max_retries=None, exc=exc)

    def _fail_permanently(
        self,
        store: JobStore,
        claim: Claim,
        payload: dict[str, Any],
        error: PermanentJobError,
        attempt: int,
    ) -> dict[str, Any]:
        log.error("job %s: failed permanently: %s", claim.job_id, error)
        if not store.fail(claim.job_id, error.reason_code, error.message, claim=claim):
            return {"job_id": claim.job_id, "state": "lost", "attempt": attempt}
        if self.on_permanent_failure is not None:
            try:
                self.on_permanent_failure(claim.job_id, payload, error)
            except Exception as exc:
                # Recorded on the dead letter for an operator; the job stays failed either way.
                log.error("job %s: on_permanent_failure hook failed: %s", claim.job_id, exc)
                store.note_hook_error(claim.job_id, _describe(exc))
        return {
            "job_id": claim.job_id,
            "state": "failed",
            "reason_code": error.reason_code,
            "attempt": attempt,
        }


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@cache
def _store_for(url: str) -> JobStore:
    # One client per worker process and URL; redis-py pools reconnect after a fork by themselves.
    return JobStore.from_url(url)


def job_store(app: Celery) -> JobStore:
    """The ``JobStore`` on the Redis of a ``make_celery`` app."""
    url = app.conf.get("insitu_redis_url")
    if not url:
        raise WorkerError("this Celery app was not made by insitu.worker.make_celery.")
    return _store_for(url)


def job_task(
    app: Celery,
    *,
    name: str,
    kind: str | None = None,
    max_attempts: int = 5,
    backoff_base: float = 1.0,
    backoff_max: float = 60.0,
    on_permanent_failure: FailureHook | None = None,
    transient: tuple[type[BaseException], ...] = DEFAULT_TRANSIENT,
    **task_options: Any,
) -> Callable[[JobBody], Task]:
    """Declare ``body(ctx, payload) -> result_ref | None`` as a job task named ``name``.

    The Celery task takes ``job_id`` and ``payload`` (JSON-serialisable dict) keyword arguments.
    """

    def decorate(body: JobBody) -> Task:
        runner = JobRunner(
            body=body,
            kind=kind or name,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            on_permanent_failure=on_permanent_failure,
            transient=transient,
        )

        def run(self: Task, job_id: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
            conf = self.app.conf
            lock_ttl = float(conf.get("insitu_lock_ttl", 30.0))
            visibility = conf.get("insitu_visibility_timeout")
            return runner.run(
                self,
                job_store(self.app),
                lock_ttl,
                job_id,
                payload or {},
                visibility_timeout=float(visibility) if visibility else None,
            )

        run.__doc__ = body.__doc__
        task = app.task(
            bind=True,
            name=name,
            max_retries=None,
            acks_late=True,
            reject_on_worker_lost=True,
            **task_options,
        )(run)
        task.runner = runner  # type: ignore[attr-defined]
        return task

    return decorate
