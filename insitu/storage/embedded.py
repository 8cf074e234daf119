"""The default content store: IPFS blocks as files in a directory, no daemon needed.

Blocks are the exact blocks Kubo would store (see :mod:`insitu.storage.unixfs`), so a CID
computed here names the same content on any IPFS node, and a later ``ipfs add`` of the same
bytes gives the same CID. Layout, modelled on Kubo's flatfs::

    <root>/blocks/<2 chars>/<base32 multihash>   one file per block, sharded by next-to-last chars
    <root>/pins/<CIDv1 base32>                    empty marker: this root was pinned

Several worker processes may add at once: every block is written to a temporary file in its
final directory and renamed over the target, so readers see a whole block or none. Blocks are
content-addressed, so two writers of the same block write the same bytes and either rename
wins. Children are written before their parents, so a crash never leaves a root pointing at
missing blocks. Nothing is ever trusted on read: every block is hashed against its CID.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from pathlib import Path

import insitu
from insitu.storage.base import DEFAULT_CID_VERSION
from insitu.storage.cid import IDENTITY, RAW, Cid
from insitu.storage.errors import NotFound
from insitu.storage.unixfs import (
    ImportSettings,
    build_dag,
    child_cids,
    parse_cid,
    read_file,
    verify_block,
)


class EmbeddedStore:
    """A content-addressed block store in ``root_dir`` that computes Kubo's CIDs."""

    def __init__(self, root_dir: Path | str, *, fsync: bool = True) -> None:
        """Open (and create if needed) the store; ``fsync=False`` trades durability for speed."""
        self.root_dir = Path(root_dir)
        self._blocks_dir = self.root_dir / "blocks"
        self._pins_dir = self.root_dir / "pins"
        self._fsync = fsync
        self._blocks_dir.mkdir(parents=True, exist_ok=True)
        self._pins_dir.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.root_dir)!r})"

    # --- blocks ------------------------------------------------------------------------------

    def block_path(self, cid: str | Cid) -> Path:
        """Where the block of ``cid`` lives (keyed by multihash, as CIDv0/v1 share blocks)."""
        multihash = parse_cid(cid).multihash
        key = base64.b32encode(multihash).decode("ascii").rstrip("=").lower()
        return self._blocks_dir / key[-3:-1] / key

    def put_block(self, cid: str | Cid, block: bytes) -> None:
        """Store one block after checking it hashes to ``cid`` (atomic, idempotent)."""
        parsed = parse_cid(cid)
        verify_block(parsed, block)
        self._write_atomically(self.block_path(parsed), block)

    def get_block(self, cid: str | Cid) -> bytes:
        """The raw bytes of one block, unchecked; :func:`read_file` does the checking."""
        path = self.block_path(cid)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"block {cid} is not in the embedded store at {self.root_dir}; add the content "
                "first, or point INSITU_IPFS_URL at the IPFS node that has it"
            ) from None

    def _write_atomically(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if self._fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            # Always replace, even if the block exists: re-adding content repairs a damaged copy.
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    # --- files -------------------------------------------------------------------------------

    def add(self, data: bytes, *, cid_version: int = DEFAULT_CID_VERSION, pin: bool = True) -> str:
        """Store ``data`` as a UnixFS file and return the CID ``ipfs add`` would print."""
        settings = ImportSettings.for_version(cid_version)
        root = build_dag(data, settings, lambda cid, block: self._write_block(cid, block))
        if pin:
            self._pin_marker(root)
        return str(root)

    def _write_block(self, cid: Cid, block: bytes) -> None:
        self._write_atomically(self.block_path(cid), block)

    def cat(self, cid: str) -> bytes:
        """The file's bytes, every block checked against its CID."""
        return read_file(cid, self.get_block)

    def has(self, cid: str) -> bool:
        """Whether every block of ``cid`` is present (presence only; ``cat`` checks hashes)."""
        pending = [parse_cid(cid)]
        while pending:
            current = pending.pop()
            if current.hash_code == IDENTITY:
                continue
            path = self.block_path(current)
            if current.codec == RAW:
                if not path.is_file():
                    return False
                continue
            try:
                block = path.read_bytes()
            except FileNotFoundError:
                return False
            pending.extend(child_cids(current, block))
        return True

    def pin(self, cid: str) -> None:
        """Record ``cid`` as pinned; raises :class:`NotFound` unless all its blocks are here."""
        parsed = parse_cid(cid)
        if not self.has(str(parsed)):
            raise NotFound(f"cannot pin {cid}: the embedded store at {self.root_dir} lacks it")
        self._pin_marker(parsed)

    def is_pinned(self, cid: str) -> bool:
        """Whether ``cid`` (in either CID version) was pinned."""
        return self._pin_path(parse_cid(cid)).exists()

    def _pin_path(self, cid: Cid) -> Path:
        # One marker per content root whichever CID version named it.
        return self._pins_dir / str(cid.to_v1())

    def _pin_marker(self, cid: Cid) -> None:
        self._pin_path(cid).touch(exist_ok=True)

    def version(self) -> str:
        """``insitu-embedded/<insitu version>``."""
        return f"insitu-embedded/{insitu.__version__}"
