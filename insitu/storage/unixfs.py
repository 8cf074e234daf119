"""UnixFS files as Kubo builds them: the same bytes give the same CID here and on a node.

Kubo (and js-ipfs, which follows it) cuts a file into fixed 256 KiB chunks and links them in a
balanced dag-pb tree of at most 174 links per node. Two settings matter for the CID:

* Kubo's defaults (``ipfs add``): CIDv0, every leaf is a dag-pb UnixFS node with the chunk
  inline. A one-chunk file is a single such node; the empty file is ``QmbFMke1…``.
* ``ipfs add --cid-version=1`` (which turns raw leaves on): leaves are ``raw`` blocks, parents
  are dag-pb CIDv1. A file of at most one chunk is its own raw block, so its CID is simply the
  sha2-256 raw CID of the bytes.

Only the two small protobuf messages involved are encoded here, by hand, in the byte order the
reference encoders produce (canonical dag-pb puts Links before Data even though Data is field 1,
and every link carries an explicit empty Name):

    PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }
    PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
    UnixFS Data { Type = 1 (File = 2); Data = 2; filesize = 3; repeated blocksizes = 4; }

The reader side (:func:`read_file`) walks any dag-pb/raw UnixFS file, whatever chunker or layout
produced it, and checks every block against its CID.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from insitu.storage.cid import DAG_PB, IDENTITY, RAW, Cid, encode_varint
from insitu.storage.errors import (
    ContentMismatch,
    InvalidCid,
    MalformedDag,
    UnsupportedImport,
)

CHUNK_SIZE = 262_144
"""Kubo's default chunker, ``size-262144``."""

MAX_LINKS = 174
"""Kubo's ``DefaultLinksPerBlock`` for the balanced layout."""

_UNIXFS_RAW = 0
_UNIXFS_DIRECTORY = 1
_UNIXFS_FILE = 2


@dataclass(frozen=True)
class ImportSettings:
    """How a file is cut and linked; together with the bytes it fixes the CID."""

    cid_version: int
    raw_leaves: bool
    chunk_size: int = CHUNK_SIZE
    max_links: int = MAX_LINKS

    @classmethod
    def for_version(cls, cid_version: int, raw_leaves: bool | None = None) -> ImportSettings:
        """Kubo's settings for ``--cid-version`` (raw leaves default on for CIDv1, as in Kubo)."""
        if cid_version not in (0, 1):
            raise UnsupportedImport(f"cid_version must be 0 or 1, not {cid_version!r}")
        if raw_leaves is None:
            raw_leaves = cid_version == 1
        if cid_version == 0 and raw_leaves:
            # Kubo would mix CIDv1 raw leaves under a CIDv0 root; nobody asks for that on purpose.
            raise UnsupportedImport("raw leaves need cid_version=1 (CIDv0 only names dag-pb)")
        return cls(cid_version=cid_version, raw_leaves=raw_leaves)


KUBO_DEFAULTS = ImportSettings.for_version(0)
CIDV1_RAW_LEAVES = ImportSettings.for_version(1)


@dataclass(frozen=True)
class ImportedFile:
    """A file turned into blocks: the root CID and every block, children before parents."""

    cid: str
    size: int
    blocks: dict[str, bytes] = field(repr=False)


@dataclass(frozen=True)
class _Built:
    cid: Cid
    file_size: int
    # Cumulative serialized size of the block and all its descendants: a link's Tsize.
    tsize: int


BlockSink = Callable[[Cid, bytes], None]


def _length_delimited(tag: int, payload: bytes | memoryview) -> bytes:
    return bytes([tag]) + encode_varint(len(payload)) + bytes(payload)


def encode_unixfs_file(
    data: bytes | memoryview | None, filesize: int, blocksizes: list[int] | tuple[int, ...] = ()
) -> bytes:
    """The UnixFS ``Data`` message of a File node (``data`` None = an inner node)."""
    out = bytearray(b"\x08\x02")
    if data is not None and len(data) > 0:
        out += _length_delimited(0x12, data)
    out += b"\x18" + encode_varint(filesize)
    for size in blocksizes:
        out += b"\x20" + encode_varint(size)
    return bytes(out)


def encode_pbnode(links: list[tuple[Cid, int]], data: bytes) -> bytes:
    """A dag-pb node with ``(cid, tsize)`` links and empty link names, links first."""
    out = bytearray()
    for cid, tsize in links:
        link = _length_delimited(0x0A, bytes(cid)) + b"\x12\x00" + b"\x18" + encode_varint(tsize)
        out += _length_delimited(0x12, link)
    out += _length_delimited(0x0A, data)
    return bytes(out)


def _leaf(chunk: memoryview, settings: ImportSettings, sink: BlockSink | None) -> _Built:
    if settings.raw_leaves:
        block = bytes(chunk)
        cid = Cid.of_block(block, RAW, 1)
    else:
        block = encode_pbnode([], encode_unixfs_file(chunk, len(chunk)))
        cid = Cid.of_block(block, DAG_PB, settings.cid_version)
    if sink is not None:
        sink(cid, block)
    return _Built(cid, len(chunk), len(block))


def _parent(children: list[_Built], settings: ImportSettings, sink: BlockSink | None) -> _Built:
    file_size = sum(child.file_size for child in children)
    data = encode_unixfs_file(None, file_size, [child.file_size for child in children])
    block = encode_pbnode([(child.cid, child.tsize) for child in children], data)
    cid = Cid.of_block(block, DAG_PB, settings.cid_version)
    if sink is not None:
        sink(cid, block)
    return _Built(cid, file_size, len(block) + sum(child.tsize for child in children))


def build_dag(data: bytes | memoryview, settings: ImportSettings, sink: BlockSink | None) -> Cid:
    """Cut ``data`` into blocks, hand each to ``sink`` (children first) and return the root."""
    view = memoryview(data).cast("B")
    step = settings.chunk_size
    # The empty file is one empty leaf, not zero leaves: Kubo and js-ipfs both do this.
    starts = range(0, len(view), step) if len(view) else range(1)
    level = [_leaf(view[start : start + step], settings, sink) for start in starts]
    # Grouping bottom-up, left to right, gives the same tree as Kubo's top-down balanced
    # builder: every level is filled completely before a new root is added above it.
    while len(level) > 1:
        width = settings.max_links
        level = [_parent(level[i : i + width], settings, sink) for i in range(0, len(level), width)]
    return level[0].cid


def build_file(
    data: bytes | memoryview, settings: ImportSettings = CIDV1_RAW_LEAVES
) -> ImportedFile:
    """Cut ``data`` into the blocks Kubo would store for it, children before parents."""
    blocks: dict[str, bytes] = {}

    def keep(cid: Cid, block: bytes) -> None:
        blocks[str(cid)] = block

    root = build_dag(data, settings, keep)
    return ImportedFile(cid=str(root), size=len(data), blocks=blocks)


def compute_cid(
    data: bytes | memoryview, *, cid_version: int = 1, raw_leaves: bool | None = None
) -> str:
    """The CID ``ipfs add --cid-version=N`` prints for ``data``, without storing anything."""
    return str(build_dag(data, ImportSettings.for_version(cid_version, raw_leaves), None))


def parse_cid(text: str | Cid) -> Cid:
    """Decode a CID string in any multibase, raising :class:`InvalidCid` if it is not one."""
    return Cid.parse(text)


def canonical_cid(cid: str | Cid) -> str:
    """The string form Kubo prints: base58btc for CIDv0, base32 for CIDv1."""
    return str(Cid.parse(cid))


def verify_block(cid: Cid, block: bytes) -> None:
    """Raise :class:`ContentMismatch` unless ``block`` hashes to ``cid``'s multihash."""
    if not cid.matches(block):
        raise ContentMismatch(
            f"block {cid} is corrupt: its bytes hash to something else. Delete the damaged copy "
            "and add the content again, or fetch it from another node."
        )


# --- reading -------------------------------------------------------------------------------


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise MalformedDag("truncated or oversized protobuf varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int, memoryview]]:
    """Yield ``(field number, wire type, varint value, bytes value)`` of a protobuf message."""
    empty = memoryview(b"")
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            yield number, wire, value, empty
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > len(buf):
                raise MalformedDag("protobuf field runs past the end of the block")
            yield number, wire, 0, buf[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise MalformedDag(f"unsupported protobuf wire type {wire}")


@dataclass(frozen=True)
class PBNode:
    """A decoded dag-pb node: its child CIDs and the UnixFS fields that matter for reading."""

    links: list[Cid]
    unixfs_type: int | None
    data: bytes
    filesize: int | None


def decode_pbnode(block: bytes | memoryview) -> PBNode:
    """Decode a dag-pb block and the UnixFS message inside it."""
    links: list[Cid] = []
    payload: memoryview | None = None
    for number, wire, _, value in _fields(memoryview(block)):
        if number == 2 and wire == 2:
            for sub, sub_wire, _, sub_value in _fields(value):
                if sub == 1 and sub_wire == 2:
                    try:
                        links.append(Cid.from_bytes(bytes(sub_value)))
                    except InvalidCid as exc:
                        raise MalformedDag(f"dag-pb link holds no valid CID: {exc}") from exc
        elif number == 1 and wire == 2:
            payload = value
    unixfs_type: int | None = None
    data = b""
    filesize: int | None = None
    if payload is not None:
        for number, wire, number_value, bytes_value in _fields(payload):
            if number == 1 and wire == 0:
                unixfs_type = number_value
            elif number == 2 and wire == 2:
                data = bytes(bytes_value)
            elif number == 3 and wire == 0:
                filesize = number_value
    return PBNode(links=links, unixfs_type=unixfs_type, data=data, filesize=filesize)


def _require_file_codec(cid: Cid) -> None:
    if cid.codec not in (RAW, DAG_PB):
        raise InvalidCid(f"{cid}: codec {cid.codec_name} is not a UnixFS file (raw or dag-pb)")


def child_cids(cid: Cid, block: bytes) -> list[Cid]:
    """The CIDs a block links to (none for a raw block)."""
    _require_file_codec(cid)
    if cid.codec == RAW:
        return []
    return decode_pbnode(block).links


BlockGetter = Callable[[Cid], bytes]


def _checked_block(cid: Cid, get_block: BlockGetter) -> bytes:
    if cid.hash_code == IDENTITY:
        # Inlined CIDs carry their block in the digest; no store holds them separately.
        return cid.digest
    block = get_block(cid)
    verify_block(cid, block)
    return block


def _collect(cid: Cid, get_block: BlockGetter, parts: list[bytes]) -> int:
    _require_file_codec(cid)
    block = _checked_block(cid, get_block)
    if cid.codec == RAW:
        parts.append(block)
        return len(block)
    node = decode_pbnode(block)
    if node.unixfs_type not in (_UNIXFS_FILE, _UNIXFS_RAW):
        what = "a directory" if node.unixfs_type == _UNIXFS_DIRECTORY else "not a UnixFS file"
        raise InvalidCid(f"{cid} is {what}; only files can be read as bytes")
    parts.append(node.data)
    total = len(node.data)
    for child in node.links:
        total += _collect(child, get_block, parts)
    if node.filesize is not None and node.filesize != total:
        raise MalformedDag(f"{cid} says it holds {node.filesize} bytes but its blocks hold {total}")
    return total


def read_file(root: str | Cid, get_block: BlockGetter) -> bytes:
    """Reassemble a UnixFS file, checking every block against its CID on the way.

    ``get_block`` returns a block's bytes or raises (e.g. :class:`NotFound`).
    """
    parts: list[bytes] = []
    _collect(parse_cid(root), get_block, parts)
    return b"".join(parts)
