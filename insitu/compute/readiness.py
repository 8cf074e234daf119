"""Wait until a compute worker's processes are warm (sandbox zygote started, key decrypted).

Celery logs "ready" as soon as its pool exists, but each pool process then warms up
(`insitu.compute.worker_app._warm_up`: ~2 s of imports in the zygote plus the keystore's scrypt)
before it takes a job. A ``ping`` task per pool process answered means they are all warm, so
a demo or benchmark does not count warm-up as job latency.
"""

from __future__ import annotations

import time

from insitu.worker import WorkerConfig, WorkerError, make_celery

PING_TASK = "insitu.compute.ping"


def wait_until_warm(config: WorkerConfig, timeout: float = 120.0) -> float:
    """Block until every pool process of ``config``'s worker answered a ping; returns seconds."""
    started = time.monotonic()
    client = make_celery(config.redis_url, "insitu-compute-client")
    try:
        # One ping per pool process; with prefetch 1 a busy (warming) process takes no second one.
        pending = [
            client.send_task(PING_TASK, queue=config.queue) for _ in range(config.concurrency)
        ]
        for result in pending:
            remaining = timeout - (time.monotonic() - started)
            try:
                result.get(timeout=max(remaining, 0.1))
            except Exception as exc:  # celery's TimeoutError and friends
                raise WorkerError(
                    f"worker {config.organisation} did not answer within {timeout:.0f} s "
                    f"({type(exc).__name__}): check `insitu worker status --config "
                    f"{config.path} --logs 40`."
                ) from exc
    finally:
        client.close()
    return time.monotonic() - started
