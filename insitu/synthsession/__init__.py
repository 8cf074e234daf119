"""Federated synthetic data as a marketplace service: the generator session.

A generator session is a ``FederatedSession`` (contracts/FederatedSession.sol) with one round
over the providers' dataset assets. Its algorithm hash is the keccak256 of a *generator
template* document (the shared schema, the generator family and its binning) that each provider
allowlists on its asset; the session's config document on IPFS declares the (ε, δ) every
contribution is fitted at.

Modules: `documents` (template, config, generator and report documents, hashed on-chain),
`provider` (a provider accepts and fits its DP contribution next to its data), `combiner` (the
coordinator combines on its validation set, commits the generator and finalizes with scores),
`worker_app` (the Celery app both roles run), `launch` (worker configs), `sdk` (create, join,
sample, status). The ML itself is in ``insitu.synth``; heavy imports stay inside functions so
that the event listener process stays light.
"""
