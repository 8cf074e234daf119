"""A small, fast CID value: version, codec and multihash, with Kubo's text forms.

``multiformats.CID`` validates every argument with runtime type checks, which costs ~4 ms per
CID built, printed or decoded: more than hashing the 256 KiB block it names. A file of a few
hundred blocks would spend seconds there, so the DAG code works on this plain value and uses
``multiformats`` only to parse text a user gives (every multibase it knows) and to hash with
functions other than sha2-256.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from multiformats import CID, multihash

from insitu.storage.errors import InvalidCid

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
IDENTITY = 0x00

_CODEC_NAMES = {RAW: "raw", DAG_PB: "dag-pb"}
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as multiformats and protobuf use it."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _decode_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise InvalidCid("truncated varint in a binary CID")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _base58btc(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rem = divmod(number, 58)
        digits.append(_BASE58[rem])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(digits))


@dataclass(frozen=True, slots=True)
class Cid:
    """A content identifier; ``multihash`` is the whole multihash (code, length, digest)."""

    version: int
    codec: int
    multihash: bytes

    @classmethod
    def of_block(cls, block: bytes | memoryview, codec: int, version: int) -> Cid:
        """The sha2-256 CID of ``block``."""
        return cls(version, codec, b"\x12\x20" + hashlib.sha256(block).digest())

    @classmethod
    def from_bytes(cls, data: bytes) -> Cid:
        """Decode a binary CID (a bare 34-byte sha2-256 multihash is CIDv0)."""
        if len(data) == 34 and data[:2] == b"\x12\x20":
            return cls(0, DAG_PB, bytes(data))
        version, pos = _decode_varint(data, 0)
        if version != 1:
            raise InvalidCid(f"unsupported CID version {version}")
        codec, pos = _decode_varint(data, pos)
        _, digest_at = _decode_varint(data, pos)
        length, digest_at = _decode_varint(data, digest_at)
        if digest_at + length != len(data):
            raise InvalidCid("binary CID with a multihash of the wrong length")
        return cls(1, codec, bytes(data[pos:]))

    @classmethod
    def parse(cls, text: str | Cid) -> Cid:
        """Parse a CID in any multibase, raising :class:`InvalidCid` with the offending text."""
        if isinstance(text, Cid):
            return text
        try:
            parsed = CID.decode(text.strip())
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidCid(
                f"{text!r} is not a CID ({exc}); pass the string `ipfs add` printed"
            ) from exc
        return cls(parsed.version, parsed.codec.code, bytes(parsed.digest))

    @property
    def hash_code(self) -> int:
        """The multihash function code (0x12 = sha2-256)."""
        return _decode_varint(self.multihash, 0)[0]

    @property
    def digest(self) -> bytes:
        """The raw digest without the multihash prefix."""
        _, pos = _decode_varint(self.multihash, 0)
        _, pos = _decode_varint(self.multihash, pos)
        return self.multihash[pos:]

    @property
    def codec_name(self) -> str:
        """``raw``, ``dag-pb`` or the codec's hex code."""
        return _CODEC_NAMES.get(self.codec, hex(self.codec))

    def __bytes__(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return encode_varint(1) + encode_varint(self.codec) + self.multihash

    def __str__(self) -> str:
        if self.version == 0:
            return _base58btc(self.multihash)
        text = base64.b32encode(bytes(self)).decode("ascii").rstrip("=").lower()
        return "b" + text

    def to_v1(self) -> Cid:
        """The same content named by a CIDv1."""
        return Cid(1, self.codec, self.multihash)

    def matches(self, block: bytes | memoryview) -> bool:
        """Whether ``block`` hashes to this CID's multihash."""
        if self.multihash[:2] == b"\x12\x20":
            return hashlib.sha256(block).digest() == self.multihash[2:]
        try:
            return bool(multihash.digest(bytes(block), self.hash_code) == self.multihash)
        except (KeyError, ValueError) as exc:
            raise InvalidCid(f"{self}: hash function {self.hash_code:#x} is not available") from exc
