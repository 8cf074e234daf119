"""Errors of generator sessions."""

from insitu.synth.errors import SynthError


class GeneratorSessionError(SynthError):
    """A generator session's documents, history or state are not what the flow expects."""


class NotAGeneratorSession(GeneratorSessionError):
    """The session's config document is not a generator-session config (e.g. an FL session)."""


class DocumentMismatch(GeneratorSessionError):
    """A document fetched from IPFS does not hash to the value committed on-chain."""


class NotReady(GeneratorSessionError):
    """The chain has not reached the state this step needs yet (a task retries later)."""
