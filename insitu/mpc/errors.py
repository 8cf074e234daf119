"""Errors of the two-party inference protocol."""

from insitu.errors import InsituError


class MPCError(InsituError):
    """Base class of the private-inference errors."""


class ProtocolAbort(MPCError):
    """The session was aborted: a message failed authentication, arrived out of order or
    truncated, or the peer closed the connection. Nothing from the aborted session may be
    used; start a new session with fresh dealer material."""


class PeerTimeout(ProtocolAbort):
    """The peer sent nothing within the timeout: it crashed, stalled or was cut off."""


class UnsupportedModel(MPCError):
    """The model (or the requested output mode for it) cannot be evaluated privately."""


class MaterialMismatch(MPCError):
    """The dealer material was prepared for another model, row count or output mode."""
