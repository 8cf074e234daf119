"""Errors of the provider worker: configuration, and the two ways a job body can fail."""

from __future__ import annotations

from insitu.errors import ConfigError, InsituError


class WorkerConfigError(ConfigError):
    """The worker config file is missing, malformed or points at something that does not exist."""


class WorkerError(InsituError):
    """The worker infrastructure itself failed (a process did not start, a lock was lost)."""


class TransientError(InsituError):
    """A failure worth retrying: an RPC node, IPFS or Redis that is down for a while.

    Raise it (or let ``JobRunner`` map a connection error to it) from a job body; the runner
    retries the job with exponential backoff and jitter, up to the task's ``max_attempts``.
    """


class PermanentJobError(InsituError):
    """A failure that retrying cannot fix (bad input, algorithm not allowed, crash, limits).

    ``reason_code`` is a short machine-readable slug (``"algorithm_not_allowed"``) that ends up in
    the dead-letter record and, for compute jobs, in the on-chain rejection.
    """

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message
