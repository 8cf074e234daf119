"""Federated learning sessions off-chain: the orchestration around ``FederatedSession``.

Modules: `documents` (config, update and aggregate documents on IPFS, hashed on-chain), `view`
(a session's history rebuilt from events + IPFS), `participant` (a bank's accept and round
steps), `coordinator` (round closing, aggregation, valuation, finalize), `worker_app` (the
Celery app module both roles run), `launch` (worker configs and processes), `sdk` (the data
scientist's calls), `deployment` (where the session contract lives) and `shapley_sampling`
(the stratified Shapley estimator). The ML itself is in `insitu.federated`.
"""
