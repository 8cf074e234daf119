"""Errors of the content store. Each message names the CID or URL involved and what to do."""

from insitu.errors import InsituError, StackError


class StorageError(InsituError):
    """Base class of every content-store error."""


class InvalidCid(StorageError, ValueError):
    """A string is not a CID, or names content the store cannot read (e.g. a directory)."""


class NotFound(StorageError, LookupError):
    """The store does not hold the content (or one of its blocks) for a CID."""


class ContentMismatch(StorageError):
    """Bytes read back do not hash to the CID they were asked for: corruption or tampering."""


class MalformedDag(StorageError):
    """A block hashes correctly but does not decode as the UnixFS file its CID promises."""


class KuboUnreachable(StorageError, StackError):
    """The Kubo RPC API did not answer at all (connection refused, DNS, timeout)."""


class KuboApiError(StorageError):
    """The Kubo RPC API answered with an error the store does not map to a narrower class."""


class UnsupportedImport(StorageError, ValueError):
    """The requested CID version / leaf format combination is not one the store can reproduce."""
