"""The provider worker: chain event listener, Celery job tasks with idempotency, process control.

Declaring a job task (see ``insitu.worker.runner`` for the guarantees)::

    from insitu.worker import JobContext, job_task, make_worker_app

    app = make_worker_app("insitu-compute")

    @job_task(app, name="insitu.compute.run", on_permanent_failure=reject_on_chain)
    def run(ctx: JobContext, payload: dict) -> str | None: ...
"""

from insitu.worker.app_module import make_worker_app
from insitu.worker.celery_app import make_celery, queue_name
from insitu.worker.config import (
    AssetConfig,
    KeystoreConfig,
    WorkerConfig,
    current_worker_config,
    load_worker_config,
)
from insitu.worker.dispatch import JobRequest, ListenerSpec, enqueue_job
from insitu.worker.errors import PermanentJobError, TransientError, WorkerConfigError, WorkerError
from insitu.worker.events import ChainEvent, Subscription
from insitu.worker.jobs import Claim, DeadLetter, JobRecord, JobState, JobStore
from insitu.worker.listener import EventListener
from insitu.worker.process import WorkerUnit
from insitu.worker.runner import JobContext, JobRunner, job_store, job_task

__all__ = [
    "AssetConfig",
    "ChainEvent",
    "Claim",
    "DeadLetter",
    "EventListener",
    "JobContext",
    "JobRecord",
    "JobRequest",
    "JobRunner",
    "JobState",
    "JobStore",
    "KeystoreConfig",
    "ListenerSpec",
    "PermanentJobError",
    "Subscription",
    "TransientError",
    "WorkerConfig",
    "WorkerConfigError",
    "WorkerError",
    "WorkerUnit",
    "current_worker_config",
    "enqueue_job",
    "job_store",
    "job_task",
    "load_worker_config",
    "make_celery",
    "make_worker_app",
    "queue_name",
]
