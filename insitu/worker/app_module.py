"""Loading a worker's app module: the Python module a worker config names in ``app``.

The module must define:

- ``app``: the Celery app (from ``make_celery``) with the job tasks registered on it;
- ``listener_spec(config: WorkerConfig, web3: Web3) -> ListenerSpec``: the contracts and events
  to watch and how each event becomes a ``JobRequest`` (not needed when the config says
  ``listen = false``: a worker that only serves tasks other workers send to its queue).
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

from celery import Celery

from insitu.worker.celery_app import make_celery
from insitu.worker.config import CONFIG_ENV, WorkerConfig, current_worker_config
from insitu.worker.errors import WorkerConfigError


def make_worker_app(name: str, *, lock_ttl: float | None = None) -> Celery:
    """The Celery app of an app module, configured from the worker config of this process.

    Inside ``insitu worker start`` (``$INSITU_WORKER_CONFIG`` set) the app takes the config's
    Redis URL, queue and visibility timeout; elsewhere (e.g. a process that only sends tasks) it
    falls back to ``$INSITU_REDIS_URL`` and Celery's defaults for the rest.
    """
    if os.environ.get(CONFIG_ENV):
        config = current_worker_config()
        return make_celery(
            config.redis_url,
            name,
            queue=config.queue,
            visibility_timeout=config.visibility_timeout,
            lock_ttl=lock_ttl,
        )
    return make_celery(None, name, lock_ttl=lock_ttl)


def import_app_module(config: WorkerConfig) -> ModuleType:
    """Import ``config.app`` (with ``config.pythonpath`` on ``sys.path``) and check its shape."""
    for entry in reversed(config.pythonpath):
        if str(entry) not in sys.path:
            sys.path.insert(0, str(entry))
    try:
        module = importlib.import_module(config.app)
    except ImportError as exc:
        raise WorkerConfigError(
            f"{config.path}: cannot import app module {config.app!r} ({exc}); check `app` and "
            "`pythonpath`."
        ) from exc
    if not isinstance(getattr(module, "app", None), Celery):
        raise WorkerConfigError(
            f"app module {config.app} defines no Celery `app`; create it with "
            "insitu.worker.make_celery."
        )
    if config.listen and not callable(getattr(module, "listener_spec", None)):
        raise WorkerConfigError(
            f"app module {config.app} defines no `listener_spec(config, web3)` function."
        )
    return module
