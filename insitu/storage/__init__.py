"""Content-addressed storage for insitu: IPFS CIDs with or without a daemon.

``open_store(url, dir)`` gives a :class:`KuboStore` when an IPFS RPC URL is configured
(``INSITU_IPFS_URL``) and the daemon-free :class:`EmbeddedStore` otherwise; both compute the
same CIDs for the same bytes, so results published either way carry the same on-chain hash.
"""

from __future__ import annotations

from pathlib import Path

from insitu.storage.base import DEFAULT_CID_VERSION, ContentStore
from insitu.storage.embedded import EmbeddedStore
from insitu.storage.errors import (
    ContentMismatch,
    InvalidCid,
    KuboApiError,
    KuboUnreachable,
    MalformedDag,
    NotFound,
    StorageError,
    UnsupportedImport,
)
from insitu.storage.kubo import KuboStore
from insitu.storage.unixfs import compute_cid


def open_store(ipfs_url: str | None, store_dir: Path | str) -> ContentStore:
    """A Kubo RPC client when ``ipfs_url`` is set, the embedded store in ``store_dir`` otherwise."""
    if ipfs_url:
        return KuboStore(ipfs_url)
    return EmbeddedStore(Path(store_dir))


__all__ = [
    "DEFAULT_CID_VERSION",
    "ContentMismatch",
    "ContentStore",
    "EmbeddedStore",
    "InvalidCid",
    "KuboApiError",
    "KuboStore",
    "KuboUnreachable",
    "MalformedDag",
    "NotFound",
    "StorageError",
    "UnsupportedImport",
    "compute_cid",
    "open_store",
]
