"""Turning chain events into job messages: ``JobRequest``, ``ListenerSpec`` and ``enqueue_job``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from insitu.worker.events import ChainEvent, Subscription
from insitu.worker.jobs import JobStore

log = logging.getLogger("insitu.worker")


@dataclass(frozen=True)
class JobRequest:
    """One job to run: the task's name, the job's id and its JSON payload."""

    task_name: str
    job_id: str
    payload: dict[str, Any] = field(default_factory=dict)


#: Decides what an event means for this worker: a job to run, or ``None`` to ignore it.
Router = Callable[[ChainEvent], JobRequest | None]


@dataclass(frozen=True)
class ListenerSpec:
    """What the listener watches and how it turns events into jobs (built by the app module)."""

    subscriptions: Sequence[Subscription]
    route: Router


def enqueue_job(app: Celery, store: JobStore, request: JobRequest, queue: str | None) -> bool:
    """Record the job as queued and send its message; ``False`` if it already finished.

    A job that is queued or running is sent again on purpose: the record may be all that is left
    of an enqueue that crashed before sending, and a duplicate message is harmless (the job lock
    and the done check in ``JobRunner`` absorb it).
    """
    record = store.mark_queued(request.job_id, request.task_name)
    if record.state.terminal:
        log.info("job %s already %s; not enqueued again", request.job_id, record.state)
        return False
    app.send_task(
        request.task_name,
        kwargs={"job_id": request.job_id, "payload": request.payload},
        queue=queue,
    )
    return True
