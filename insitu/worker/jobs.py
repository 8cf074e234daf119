"""Job records, the per-job lock and the dead-letter record, all in Redis and keyed by job id.

A job id is whatever identifies one unit of work for good, e.g. an agreement id. Keys (with the
default prefix ``insitu``):

- ``insitu:job:<id>`` (hash): ``state`` (queued → running → done | failed, with ``retrying``
  between attempts), ``kind``, ``attempts``, ``completions``, timestamps, ``last_error``,
  ``reason_code``, ``result_ref``, ``owner``.
- ``insitu:joblock:<id>`` (string): the owner token of the worker running the job, with an expiry
  that the owner's heartbeat keeps extending. ``SET NX`` makes the claim atomic, so a message
  that Celery delivers twice (redelivery after a visibility timeout, a duplicated event) never runs
  the same job twice at the same time.
- ``insitu:deadletters`` (hash): job id → JSON of the permanent failure (reason code, message,
  attempts, time), for operators and ``insitu worker status``.

Every state change that must only happen while holding the lock (start, done, retry, failed) is
one Lua script that checks the token first, so a worker whose lock expired (it hung, or Redis was
away longer than the lock's lifetime) cannot overwrite the outcome of the worker that took over.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis

DEFAULT_PREFIX = "insitu"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED)


@dataclass(frozen=True)
class JobRecord:
    """What Redis knows about one job."""

    job_id: str
    state: JobState
    kind: str
    attempts: int
    #: How many times the job was recorded done: 1 for a done job, whatever happened on the way.
    completions: int
    created_at: float | None
    updated_at: float | None
    started_at: float | None
    finished_at: float | None
    last_error: str | None
    reason_code: str | None
    result_ref: str | None
    owner: str | None


@dataclass(frozen=True)
class DeadLetter:
    """A job that failed for good, as stored in ``<prefix>:deadletters``."""

    job_id: str
    kind: str
    reason_code: str
    message: str
    attempts: int
    failed_at: float
    hook_error: str | None = None


@dataclass(frozen=True)
class Claim:
    """Proof that this worker holds the lock of ``job_id`` (until ``ttl_ms`` without heartbeat)."""

    job_id: str
    token: str
    ttl_ms: int


def new_owner_token() -> str:
    """A token naming the claiming worker (host and pid help reading a stuck lock in Redis)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"


# KEYS[1] lock, ARGV[1] token, ARGV[2] ttl ms.
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] lock, ARGV[1] token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lock, KEYS[2] job; ARGV: token, now, kind. Returns the attempt number, 0 if not owner.
_BEGIN = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'done' or state == 'failed' then return -1 end
if not redis.call('HGET', KEYS[2], 'created_at') then
  redis.call('HSET', KEYS[2], 'created_at', ARGV[2])
end
local attempts = redis.call('HINCRBY', KEYS[2], 'attempts', 1)
redis.call('HSET', KEYS[2], 'state', 'running', 'kind', ARGV[3], 'owner', ARGV[1],
           'started_at', ARGV[2], 'updated_at', ARGV[2])
return attempts
"""

# KEYS[1] lock, KEYS[2] job; ARGV: token, now, result_ref. 1 = recorded, 0 = not owner / done.
_COMPLETE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'done' or state == 'failed' then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('HSET', KEYS[2], 'state', 'done', 'finished_at', ARGV[2], 'updated_at', ARGV[2],
           'result_ref', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'completions', 1)
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS[1] lock, KEYS[2] job; ARGV: token, now, error.
_RETRY = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'state', 'retrying', 'last_error', ARGV[3], 'updated_at', ARGV[2])
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS[1] lock, KEYS[2] job, KEYS[3] dead letters; ARGV: token ('' = no lock needed), now,
# reason, message, dead-letter JSON, job id. 1 = recorded, 0 = not owner or already terminal.
_FAIL = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'done' or state == 'failed' then return 0 end
redis.call('HSET', KEYS[2], 'state', 'failed', 'finished_at', ARGV[2], 'updated_at', ARGV[2],
           'reason_code', ARGV[3], 'last_error', ARGV[4])
redis.call('HSET', KEYS[3], ARGV[6], ARGV[5])
if ARGV[1] ~= '' then redis.call('DEL', KEYS[1]) end
return 1
"""


def _float(value: str | None) -> float | None:
    return float(value) if value else None


class JobStore:
    """Job records, locks and dead letters of one Redis database."""

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        # decode_responses is assumed off or on alike: every read goes through _text().
        self.client = client
        self.prefix = prefix
        self.deadletters_key = f"{prefix}:deadletters"
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)
        self._begin = client.register_script(_BEGIN)
        self._complete = client.register_script(_COMPLETE)
        self._retry = client.register_script(_RETRY)
        self._fail = client.register_script(_FAIL)

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX) -> JobStore:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), prefix)

    def job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def lock_key(self, job_id: str) -> str:
        return f"{self.prefix}:joblock:{job_id}"

    # -- records -----------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        raw = self.client.hgetall(self.job_key(job_id))
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        return JobRecord(
            job_id=job_id,
            state=JobState(data.get("state", JobState.QUEUED)),
            kind=data.get("kind", ""),
            attempts=int(data.get("attempts", 0)),
            completions=int(data.get("completions", 0)),
            created_at=_float(data.get("created_at")),
            updated_at=_float(data.get("updated_at")),
            started_at=_float(data.get("started_at")),
            finished_at=_float(data.get("finished_at")),
            last_error=data.get("last_error") or None,
            reason_code=data.get("reason_code") or None,
            result_ref=data.get("result_ref") or None,
            owner=data.get("owner") or None,
        )

    def mark_queued(self, job_id: str, kind: str) -> JobRecord:
        """Create the record of a job about to be enqueued; an existing record is left as is."""
        now = str(time.time())
        key = self.job_key(job_id)
        with self.client.pipeline() as pipe:
            pipe.hsetnx(key, "state", JobState.QUEUED.value)
            pipe.hsetnx(key, "kind", kind)
            pipe.hsetnx(key, "created_at", now)
            pipe.hsetnx(key, "updated_at", now)
            pipe.execute()
        record = self.get(job_id)
        assert record is not None  # just written; Redis does not drop keys without a TTL
        return record

    # -- the lock ----------------------------------------------------------------------------

    def claim(self, job_id: str, ttl: float, token: str | None = None) -> Claim | None:
        """Take the job's lock for ``ttl`` seconds, or ``None`` if another worker holds it."""
        claim = Claim(job_id, token or new_owner_token(), max(1, int(ttl * 1000)))
        taken = self.client.set(self.lock_key(job_id), claim.token, nx=True, px=claim.ttl_ms)
        return claim if taken else None

    def lock_ttl(self, job_id: str) -> float:
        """Seconds until the job's lock expires (0 if nobody holds it)."""
        ms = int(self.client.pttl(self.lock_key(job_id)))
        return max(ms, 0) / 1000

    def extend(self, claim: Claim) -> bool:
        """Push the lock's expiry ``ttl`` into the future; ``False`` if we no longer hold it."""
        return bool(
            self._extend(keys=[self.lock_key(claim.job_id)], args=[claim.token, claim.ttl_ms])
        )

    def release(self, claim: Claim) -> bool:
        return bool(self._release(keys=[self.lock_key(claim.job_id)], args=[claim.token]))

    # -- transitions under the lock ----------------------------------------------------------

    def begin_attempt(self, claim: Claim, kind: str) -> int:
        """Mark the job running; returns the attempt number (1-based).

        Returns 0 if the lock is no longer ours and -1 if the job already finished.
        """
        keys = [self.lock_key(claim.job_id), self.job_key(claim.job_id)]
        return int(self._begin(keys=keys, args=[claim.token, str(time.time()), kind]))

    def complete(self, claim: Claim, result_ref: str | None) -> bool:
        """Record the job done, release the lock; ``False`` if the lock was lost or it was done."""
        keys = [self.lock_key(claim.job_id), self.job_key(claim.job_id)]
        return bool(
            self._complete(keys=keys, args=[claim.token, str(time.time()), result_ref or ""])
        )

    def schedule_retry(self, claim: Claim, error: str) -> bool:
        """Record a transient failure and release the lock so the retry can claim it."""
        keys = [self.lock_key(claim.job_id), self.job_key(claim.job_id)]
        return bool(self._retry(keys=keys, args=[claim.token, str(time.time()), error]))

    def fail(
        self,
        job_id: str,
        reason_code: str,
        message: str,
        *,
        claim: Claim | None = None,
        attempts: int | None = None,
    ) -> bool:
        """Record a permanent failure and its dead letter; ``False`` if it was recorded before.

        With a ``claim`` the failure is only recorded while the lock is ours (and releases it).
        """
        record = self.get(job_id)
        letter = DeadLetter(
            job_id=job_id,
            kind=record.kind if record else "",
            reason_code=reason_code,
            message=message,
            attempts=attempts if attempts is not None else (record.attempts if record else 0),
            failed_at=time.time(),
        )
        keys = [self.lock_key(job_id), self.job_key(job_id), self.deadletters_key]
        args = [
            claim.token if claim else "",
            str(letter.failed_at),
            reason_code,
            message,
            json.dumps(letter.__dict__),
            job_id,
        ]
        return bool(self._fail(keys=keys, args=args))

    # -- dead letters ------------------------------------------------------------------------

    def dead_letters(self) -> dict[str, DeadLetter]:
        """Every permanently failed job by job id."""
        out: dict[str, DeadLetter] = {}
        for value in self.client.hvals(self.deadletters_key):
            data: dict[str, Any] = json.loads(_text(value))
            out[data["job_id"]] = DeadLetter(**data)
        return out

    def dead_letter(self, job_id: str) -> DeadLetter | None:
        value = self.client.hget(self.deadletters_key, job_id)
        return DeadLetter(**json.loads(_text(value))) if value is not None else None

    def note_hook_error(self, job_id: str, error: str) -> None:
        """Attach the failure of the ``on_permanent_failure`` hook to the job's dead letter."""
        letter = self.dead_letter(job_id)
        if letter is None:
            return
        data = {**letter.__dict__, "hook_error": error}
        self.client.hset(self.deadletters_key, job_id, json.dumps(data))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
