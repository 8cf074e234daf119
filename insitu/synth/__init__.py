"""Federated synthetic data: local DP generators, validated combination, local-encoding sampling.

Each provider fits a class-conditional Gaussian copula on its private rows (``generator``), the
released statistics get Gaussian noise calibrated with an RDP accountant (``privacy``), a
coordinator keeps the contributions that improve a validation ROC AUC (``combiner``), and anyone
samples from the resulting mixture in its own column names, units and codes (``schema``).
``api`` ties these together.
"""

from insitu.synth.api import combine, fit_contribution, sample_local
from insitu.synth.combiner import CombinationReport, MixtureGenerator
from insitu.synth.contribution import Contribution
from insitu.synth.errors import CombinationError, PrivacyBudgetError, SchemaError, SynthError
from insitu.synth.schema import Column, LocalColumn, LocalMapping, Schema

__all__ = [
    "Column",
    "CombinationError",
    "CombinationReport",
    "Contribution",
    "LocalColumn",
    "LocalMapping",
    "MixtureGenerator",
    "PrivacyBudgetError",
    "Schema",
    "SchemaError",
    "SynthError",
    "combine",
    "fit_contribution",
    "sample_local",
]
