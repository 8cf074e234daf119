"""Federated learning sessions: the chain- and transport-free ML core.

Modules are independent building blocks that the coordinator and participant tasks wire
together: `params` (model <-> arrays), `client` (local training), `strategies` (aggregation
rules), `secagg` (pairwise-masked sums), `privacy` (clipping, noise, accounting),
`valuation` (Shapley-style contribution scores and payouts) and `data` (demo datasets).
"""

from insitu.federated.errors import (
    FederatedError,
    RoundFailedError,
    SecAggError,
    UnsupportedEstimatorError,
    ValuationError,
)

__all__ = [
    "FederatedError",
    "RoundFailedError",
    "SecAggError",
    "UnsupportedEstimatorError",
    "ValuationError",
]
