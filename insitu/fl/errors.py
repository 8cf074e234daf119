"""Errors of the federated session orchestration."""

from insitu.federated.errors import FederatedError


class SessionError(FederatedError):
    """A session's documents, history or state are not what the orchestration expects."""


class TemplateMismatch(SessionError):
    """The model template on IPFS does not hash to the session's approved algorithm hash."""


class DocumentMismatch(SessionError):
    """A document fetched from IPFS does not hash to the value committed on-chain."""


class RoundNotOpen(SessionError):
    """A task for a round that the chain has not opened yet (retry later)."""
