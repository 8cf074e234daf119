"""The chain event listener: bounded ``eth_getLogs`` polling with a durable checkpoint in Redis.

Each poll reads the logs of the subscribed contracts from the block after the checkpoint up to
``latest − confirmations`` (at most ``max_block_range`` blocks per call), decodes them and calls
the handler for each one, in chain order. Then, and only then, the checkpoint moves to the last
block of the range. Keys (``<prefix>`` is ``insitu:listener:<name>``):

- ``<prefix>:checkpoint`` (hash ``block``, ``hash``): the last block whose events were all
  handed to the handler;
- ``<prefix>:seen:<tx hash>:<log index>`` (string with a TTL): a log already handled;
- ``<prefix>:heartbeat`` (JSON with a short TTL): for status reports and readiness checks.

Crash safety: a crash after some handler calls but before the checkpoint moves replays the range
on restart; the seen-marks skip the logs already handled, and a log handled but not yet marked
(crash between the two) is handled again, which the job layer absorbs (same job id). So nothing
is missed, and nothing runs twice.

Reorgs: with ``confirmations = N > 0`` only blocks at least N deep are read, so a reorg shorter
than N is invisible. A deeper reorg (or a chain reset, e.g. a fresh anvil) is detected when the
checkpoint block's hash changes or the head falls behind the checkpoint; it is logged and the
listener carries on from its checkpoint without rewinding: jobs re-check the chain before acting,
so an event that vanished fails their checks. On the local chain ``confirmations = 0``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence

import redis
from web3 import Web3

from insitu.worker.events import ChainEvent, EventDecoder, Subscription

log = logging.getLogger("insitu.worker.listener")

DEFAULT_DEDUP_TTL = 30 * 24 * 3600
Handler = Callable[[ChainEvent], None]


class EventListener:
    """Polls the chain for the subscribed events and hands each one to ``handler`` once."""

    def __init__(
        self,
        web3: Web3,
        subscriptions: Sequence[Subscription],
        handler: Handler,
        client: redis.Redis,
        *,
        name: str,
        confirmations: int = 0,
        poll_interval: float = 0.25,
        start_block: int = 0,
        max_block_range: int = 2000,
        dedup_ttl: int = DEFAULT_DEDUP_TTL,
        max_backoff: float = 5.0,
    ) -> None:
        if max_block_range < 1:
            raise ValueError("max_block_range must be at least 1")
        self.web3 = web3
        self.decoder = EventDecoder(subscriptions)
        self.handler = handler
        self.client = client
        self.name = name
        self.confirmations = confirmations
        self.poll_interval = poll_interval
        self.start_block = start_block
        self.max_block_range = max_block_range
        self.dedup_ttl = dedup_ttl
        self.max_backoff = max_backoff
        self.prefix = f"insitu:listener:{name}"
        self.handled = 0

    # -- state in Redis ----------------------------------------------------------------------

    def checkpoint(self) -> int | None:
        """The last block whose events were all handled, or ``None`` before the first poll."""
        value = self.client.hget(f"{self.prefix}:checkpoint", "block")
        return int(value) if value is not None else None

    def _checkpoint_hash(self) -> str | None:
        value = self.client.hget(f"{self.prefix}:checkpoint", "hash")
        return value.decode() if isinstance(value, bytes) else value

    def _save_checkpoint(self, block: int, block_hash: str) -> None:
        self.client.hset(f"{self.prefix}:checkpoint", mapping={"block": block, "hash": block_hash})

    def _seen_key(self, event: ChainEvent) -> str:
        return f"{self.prefix}:seen:{event.key}"

    def _beat(self, head: int | None) -> None:
        data = {"time": time.time(), "checkpoint": self.checkpoint(), "head": head}
        self.client.set(f"{self.prefix}:heartbeat", json.dumps(data), ex=60)

    # -- polling -----------------------------------------------------------------------------

    def poll_once(self) -> tuple[int, bool]:
        """Handle the next range of confirmed blocks.

        Returns ``(events handled, caught up)``; RPC, Redis and handler errors propagate, and
        leave the checkpoint where it was.
        """
        head = int(self.web3.eth.block_number)
        self._beat(head)
        safe = head - self.confirmations
        checkpoint = self.checkpoint()
        if checkpoint is not None:
            self._check_continuity(checkpoint, head)
        first = checkpoint + 1 if checkpoint is not None else self.start_block
        if first > safe:
            return 0, True
        last = min(safe, first + self.max_block_range - 1)
        logs = self.web3.eth.get_logs(
            {
                "fromBlock": first,
                "toBlock": last,
                "address": self.decoder.addresses,
                "topics": [self.decoder.topics],
            }
        )
        events = [e for e in map(self.decoder.decode, logs) if e is not None]
        events.sort(key=lambda e: (e.block_number, e.log_index))
        handled = 0
        for event in events:
            key = self._seen_key(event)
            if self.client.exists(key):
                continue
            self.handler(event)
            # Marked after the handler: a crash in between re-handles the event, never skips it.
            self.client.set(key, "1", ex=self.dedup_ttl)
            handled += 1
        block_hash = self.web3.eth.get_block(last)["hash"]
        self._save_checkpoint(last, "0x" + bytes(block_hash).hex())
        self.handled += handled
        if handled:
            log.info("blocks %d-%d: %d event(s) handled", first, last, handled)
        return handled, last >= safe

    def _check_continuity(self, checkpoint: int, head: int) -> None:
        if head < checkpoint:
            log.error(
                "the chain head (%d) is behind the checkpoint (%d): the chain was reset or "
                "reorganised deeper than confirmations=%d. Waiting for it to pass the "
                "checkpoint; to start over, delete the Redis key %s:checkpoint.",
                head, checkpoint, self.confirmations, self.prefix,
            )  # fmt: skip
            return
        stored = self._checkpoint_hash()
        if stored is None:
            return
        current = "0x" + bytes(self.web3.eth.get_block(checkpoint)["hash"]).hex()
        if current != stored:
            log.error(
                "block %d changed hash since it was processed (%s -> %s): a reorg deeper than "
                "confirmations=%d; raise confirmations on this chain.",
                checkpoint, stored, current, self.confirmations,
            )  # fmt: skip
            self._save_checkpoint(checkpoint, current)

    def run(self, stop: threading.Event | None = None) -> None:
        """Poll until ``stop`` is set, backing off (up to ``max_backoff`` s) while errors last."""
        stop = stop or threading.Event()
        failures = 0
        log.info(
            "listener %s: watching %s after checkpoint %s (start block %d, confirmations=%d)",
            self.name, self.decoder.addresses, self._safe_checkpoint(), self.start_block,
            self.confirmations,
        )  # fmt: skip
        while not stop.is_set():
            try:
                _, caught_up = self.poll_once()
            except redis.RedisError as exc:
                failures += 1
                delay = self._delay(failures)
                log.warning("Redis unavailable (%s); retrying in %.1f s", exc, delay)
                stop.wait(delay)
                continue
            except Exception as exc:
                # RPC down, a handler that could not enqueue...: never let the listener die.
                failures += 1
                delay = self._delay(failures)
                log.warning(
                    "poll failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, delay
                )
                stop.wait(delay)
                continue
            if failures:
                log.info("listener recovered after %d failed poll(s)", failures)
            failures = 0
            if caught_up:
                stop.wait(self.poll_interval)

    def _safe_checkpoint(self) -> int | str | None:
        try:
            return self.checkpoint()
        except redis.RedisError:
            return "unknown (Redis unavailable)"

    def _delay(self, failures: int) -> float:
        return min(self.max_backoff, self.poll_interval * 2 ** min(failures, 10))
