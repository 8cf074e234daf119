"""The Celery application of a provider worker: Redis as broker and result backend.

Delivery guarantees come from these settings working together:

- ``task_acks_late``: a message is acknowledged only after its task returned, so a worker that
  dies mid-job leaves it unacknowledged and Redis hands it out again;
- ``task_reject_on_worker_lost``: the same when only a prefork child is killed (otherwise Celery
  records ``WorkerLostError`` and the message is gone);
- ``visibility_timeout`` and a sweep of the unacknowledged messages every second (the
  ``RestoreUnacked`` consumer step, since kombu ≤ 5.6 ignores ``unacked_restore_interval`` and
  sweeps only every ~100 s): an unacknowledged message comes back about ``visibility_timeout``
  seconds after it was taken;
- a short ``unacked_mutex_expire``: kombu guards each sweep with a Redis mutex that, by default,
  outlives a worker SIGKILLed in the middle of a sweep by 5 minutes and blocks every sweep of
  every other worker until then.

The price of the visibility timeout: a job running longer than the visibility timeout is delivered a
second time while it still runs. ``JobRunner``'s per-job lock makes that copy wait and then see
the job done, so it is harmless; the timeout only bounds how fast a killed job restarts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from celery import Celery

from insitu.worker.errors import WorkerConfigError
from insitu.worker.restore import DEFAULT_RESTORE_INTERVAL, RESTORE_INTERVAL_KEY, RestoreUnacked

DEFAULT_VISIBILITY_TIMEOUT = 30.0
#: Seconds a sweep of the unacknowledged messages may hold kombu's mutex (a sweep takes ms).
UNACKED_MUTEX_EXPIRE = 5
#: The queue of an organisation's worker; every task it runs is sent there.
QUEUE_PREFIX = "insitu"


def queue_name(organisation: str) -> str:
    """The default Celery queue of an organisation (``insitu.<organisation>``)."""
    return f"{QUEUE_PREFIX}.{organisation}"


def make_celery(
    redis_url: str | None,
    name: str,
    *,
    queue: str | None = None,
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
    lock_ttl: float | None = None,
    routes: Mapping[str, str] | None = None,
    include: list[str] | None = None,
    set_as_current: bool = True,
) -> Celery:
    """A Celery app using ``redis_url`` (default: ``$INSITU_REDIS_URL``) as broker and backend.

    ``queue`` becomes the default queue of tasks; ``routes`` maps task names to other queues.
    ``lock_ttl`` (default: the visibility timeout) is how long a job's lock outlives a worker
    that stopped heart-beating; a redelivered message waits for it before running the job.
    ``set_as_current=False`` for a client app made inside a worker, which must not replace the
    worker's own app as Celery's current app.
    """
    url = redis_url or os.environ.get("INSITU_REDIS_URL")
    if not url:
        raise WorkerConfigError(
            f"no Redis URL for the Celery app {name!r}: pass redis_url, or set INSITU_REDIS_URL "
            "(`insitu worker start` sets it from the worker config)."
        )
    app = Celery(
        name, broker=url, backend=url, include=include or [], set_as_current=set_as_current
    )
    conf: dict[str, Any] = {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout,
            # Read by kombu ≥ 5.7 only; RestoreUnacked sweeps every second on any version.
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": UNACKED_MUTEX_EXPIRE,
        },
        "result_backend_transport_options": {"visibility_timeout": visibility_timeout},
        "broker_connection_retry_on_startup": True,
        # Without a limit a worker started while Redis is down gives up after 100 attempts.
        "broker_connection_max_retries": None,
        "result_expires": 7 * 24 * 3600,
        "task_track_started": True,
        "insitu_redis_url": url,
        "insitu_lock_ttl": lock_ttl if lock_ttl is not None else visibility_timeout,
        "insitu_visibility_timeout": visibility_timeout,
        RESTORE_INTERVAL_KEY: DEFAULT_RESTORE_INTERVAL,
    }
    if queue:
        conf["task_default_queue"] = queue
    if routes:
        conf["task_routes"] = {task: {"queue": q} for task, q in routes.items()}
    app.conf.update(conf)
    app.steps["consumer"].add(RestoreUnacked)
    return app
