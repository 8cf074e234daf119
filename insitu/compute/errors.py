"""Errors of the compute-to-data core. Each carries the `Reason` a worker records on-chain."""

from insitu.compute.reasons import Reason
from insitu.errors import InsituError


class ComputeError(InsituError):
    """Base class of compute errors; `reason` is the on-chain reject code it maps to."""

    reason: Reason = Reason.CRASHED


class PackageError(ComputeError):
    """An algorithm package or its manifest is malformed, unsafe or unreadable."""

    reason = Reason.BAD_METADATA


class HashMismatchError(ComputeError):
    """Package bytes do not hash to the algorithm hash the agreement names."""

    reason = Reason.HASH_MISMATCH


class ParamsError(ComputeError):
    """The job's parameters fail the algorithm's JSON Schema."""

    reason = Reason.BAD_PARAMS


class DataError(ComputeError):
    """A provider's private data file is missing, unreadable or lacks a required column."""

    reason = Reason.DATA_MISSING


class ResultError(ComputeError):
    """A result folder or sealed result is invalid: unsafe entries, wrong hash, cannot decrypt."""


class OutputTooLargeError(ResultError):
    """A result folder exceeds its size cap."""

    reason = Reason.OUTPUT_TOO_LARGE


class SecureSumError(ComputeError):
    """Inputs to the masked summation are inconsistent (keys, lengths, session)."""

    reason = Reason.BAD_PARAMS
