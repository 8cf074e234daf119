"""Errors raised by the federated synthetic data core."""

from insitu.errors import InsituError


class SynthError(InsituError):
    """Base class of federated synthetic data errors."""


class SchemaError(SynthError):
    """A schema, a local mapping or a data frame does not fit together."""


class PrivacyBudgetError(SynthError):
    """A declared (epsilon, delta) budget cannot be met or is malformed."""


class CombinationError(SynthError):
    """Contributions cannot be combined (empty, inconsistent schemas, bad validation set)."""
