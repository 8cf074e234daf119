"""The listener process: ``python -m insitu.worker.listen [--config FILE]``.

Reads the worker config (``--config`` or ``$INSITU_WORKER_CONFIG``), asks the app module which
events to watch, and enqueues one job per routed event until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

import redis
from web3 import HTTPProvider, Web3

from insitu.worker.app_module import import_app_module
from insitu.worker.config import CONFIG_ENV, WorkerConfig, load_worker_config
from insitu.worker.dispatch import enqueue_job
from insitu.worker.events import ChainEvent
from insitu.worker.jobs import JobStore
from insitu.worker.listener import EventListener

log = logging.getLogger("insitu.worker.listener")


def build_listener(config: WorkerConfig) -> EventListener:
    """The listener of ``config``: the app module's subscriptions, enqueueing its routed jobs."""
    module = import_app_module(config)
    web3 = Web3(HTTPProvider(config.rpc_url, request_kwargs={"timeout": 10}))
    spec = module.listener_spec(config, web3)
    client = redis.Redis.from_url(config.redis_url, socket_timeout=5, socket_connect_timeout=5)
    store = JobStore(client)

    def handle(event: ChainEvent) -> None:
        request = spec.route(event)
        if request is None:
            return
        if enqueue_job(module.app, store, request, config.queue):
            log.info("event %s %s -> job %s", event.name, event.key, request.job_id)

    return EventListener(
        web3,
        spec.subscriptions,
        handle,
        client,
        name=config.listener_name,
        confirmations=config.confirmations,
        poll_interval=config.poll_interval,
        start_block=config.start_block,
        max_block_range=config.max_block_range,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=os.environ.get(CONFIG_ENV))
    args = parser.parse_args(argv)
    if args.config is None:
        parser.error(f"pass --config or set {CONFIG_ENV}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    listener = build_listener(load_worker_config(args.config))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    listener.run(stop)
    log.info("listener stopped at checkpoint %s", listener.checkpoint())


if __name__ == "__main__":
    main()
