"""The interface every content store offers: add bytes, get a CID; give a CID, get checked bytes.

CID settings. ``add`` defaults to ``cid_version=1``, i.e. what ``ipfs add --cid-version=1``
prints: raw leaves, 256 KiB chunks, a balanced dag-pb tree above them, base32 text
(``bafk…`` for content up to one chunk, ``bafy…`` above). One setting everywhere keeps the
CIDs that workers put on-chain comparable, and CIDv1 is what gateways and subdomain URLs need.
``cid_version=0`` reproduces Kubo's historical defaults (``Qm…``: dag-pb leaves, 256 KiB chunks,
balanced layout, 174 links per node) for content that must match an existing CIDv0.

Every store checks what it returns: ``cat`` raises :class:`ContentMismatch` rather than hand back
bytes that do not hash to the CID, and :class:`NotFound` when the content is not there.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

DEFAULT_CID_VERSION = 1


@runtime_checkable
class ContentStore(Protocol):
    """A content-addressed store of files (IPFS UnixFS semantics)."""

    def add(self, data: bytes, *, cid_version: int = DEFAULT_CID_VERSION, pin: bool = True) -> str:
        """Store ``data`` and return its CID string, the same one Kubo computes for these bytes."""
        ...

    def cat(self, cid: str) -> bytes:
        """Return the content of ``cid``, verified against it (NotFound / ContentMismatch)."""
        ...

    def pin(self, cid: str) -> None:
        """Keep ``cid`` (and everything it links to) from garbage collection."""
        ...

    def has(self, cid: str) -> bool:
        """Whether the store holds ``cid`` locally, without asking any network."""
        ...

    def version(self) -> str:
        """A human-readable name and version of the backend."""
        ...
