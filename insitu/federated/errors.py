"""Errors raised by the federated learning core."""

from insitu.errors import InsituError


class FederatedError(InsituError):
    """Base class of federated learning errors."""


class UnsupportedEstimatorError(FederatedError):
    """The estimator (or a pipeline step) cannot be trained federatedly."""


class RoundFailedError(FederatedError):
    """A round cannot complete, e.g. fewer participants answered than the minimum."""


class SecAggError(FederatedError):
    """Secure aggregation cannot unmask the sum (missing keys, reveals or inconsistent inputs)."""


class ValuationError(FederatedError):
    """Contribution valuation got inconsistent inputs."""
