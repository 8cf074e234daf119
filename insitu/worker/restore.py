"""A worker bootstep that hands unacknowledged messages of dead workers back to their queue.

With the Redis transport an ``acks_late`` message that a worker took and never acknowledged (the
worker was SIGKILLed, the machine died) sits in the ``unacked`` hash until some consumer's QoS
"restores" it, i.e. pushes it back onto its queue once it is older than ``visibility_timeout``.

How often that sweep runs depends on the kombu version: kombu 5.7 has the transport options
``unacked_restore_interval`` and ``unacked_restore_throttle``, but kombu ≤ 5.6 (what pip resolves
next to eth-brownie's pins) hard-codes them to 10 s × every 10th call and silently ignores the
options. There, a message is restored when a consumer starts (only if it is already older than the
visibility timeout at that instant) and otherwise about 100 s later. A worker restarted right
after a crash usually comes back *before* the visibility timeout has passed, so the job it should
resume waited 100 s: the sweep below runs every ``interval`` seconds on any kombu version.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from celery import bootsteps

log = logging.getLogger("insitu.worker")

#: App conf key: seconds between two sweeps of the unacknowledged messages (0 turns it off).
RESTORE_INTERVAL_KEY = "insitu_unacked_restore_interval"
DEFAULT_RESTORE_INTERVAL = 1.0


def restore_visible(qos: Any) -> None:
    """Run one real sweep of ``qos`` (kombu's Redis QoS), bypassing kombu's own throttle.

    Transports without a visibility timeout have a no-op ``restore_visible``.
    """
    limit = getattr(qos.channel, "unacked_restore_limit", None)
    try:
        params = inspect.signature(qos.restore_visible).parameters
    except (TypeError, ValueError):
        params = {}
    if "interval" in params:
        # kombu ≤ 5.6: only every ``interval``-th call scans Redis; 1 makes each call scan.
        qos.restore_visible(num=limit, interval=1)
    else:
        qos.restore_visible(num=limit)


class RestoreUnacked(bootsteps.StartStopStep):
    """Consumer step: sweeps the unacknowledged messages every ``RESTORE_INTERVAL_KEY`` seconds."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None

    def start(self, c: Any) -> None:
        interval = float(c.app.conf.get(RESTORE_INTERVAL_KEY) or 0)
        consumer = getattr(c, "task_consumer", None)
        if interval <= 0 or consumer is None:
            return
        qos = consumer.channel.qos
        self.cancel()
        self.tref = c.timer.call_repeatedly(interval, self._sweep, (qos,))

    def stop(self, c: Any) -> None:
        self.cancel()

    def shutdown(self, c: Any) -> None:
        self.cancel()

    def cancel(self) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    @staticmethod
    def _sweep(qos: Any) -> None:
        try:
            restore_visible(qos)
        except Exception as exc:
            # A lost broker is the consumer's to notice and reconnect; raising from a timer of the
            # event loop would restart the consumer for a sweep that the next tick redoes anyway.
            log.warning("restoring unacknowledged messages failed (%s); retrying", exc)
