"""Canary scanning: prove that no raw row of private data left the provider.

Tests plant unique values (canaries) in private data, run jobs, and scan every byte the worker
published with `find_canaries`. A canary matches in several encodings: its text (as written in
the CSV; also UTF-16-LE for pickled/numpy strings), and for numbers their little-endian float64
and int64 bytes (how numpy arrays and pickles store them). Ciphertexts are decrypted with the
buyer's key first when one is given, and tar archives are scanned as they are (uncompressed).
"""

import contextlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from insitu.crypto import ecies


@dataclass(frozen=True)
class CanaryHit:
    """One canary found in a scanned blob."""

    canary: str | int | float
    encoding: str
    offset: int
    source: str


def canary_encodings(canary: str | int | float) -> dict[str, bytes]:
    """The byte patterns that reveal `canary`, keyed by encoding name."""
    patterns = {"utf-8": str(canary).encode()}
    if isinstance(canary, str):
        patterns["utf-16-le"] = canary.encode("utf-16-le")
        patterns["utf-32-le"] = canary.encode("utf-32-le")  # numpy's fixed-width unicode
    else:
        patterns["float64-le"] = struct.pack("<d", float(canary))
        if float(canary).is_integer() and abs(canary) < 2**63:
            patterns["int64-le"] = struct.pack("<q", int(canary))
    return patterns


def find_canaries(
    blob: bytes,
    canaries: Iterable[str | int | float],
    *,
    private_key: Any = None,
    source: str = "blob",
) -> list[CanaryHit]:
    """Every occurrence of any canary in `blob` (and in its decryption, if a key is given).

    With `private_key`, a blob that decrypts is scanned both as ciphertext and as plaintext; one
    that does not decrypt (it was not encrypted to that key) is scanned as it is.
    """
    views = [(source, blob)]
    if private_key is not None:
        with contextlib.suppress(ecies.CryptoError):
            views.append((f"{source} (decrypted)", ecies.decrypt(private_key, blob)))
    hits = []
    canary_list = list(canaries)
    for name, data in views:
        for canary in canary_list:
            for encoding, pattern in canary_encodings(canary).items():
                start = data.find(pattern)
                while start != -1:
                    hits.append(CanaryHit(canary, encoding, start, name))
                    start = data.find(pattern, start + 1)
    return hits
