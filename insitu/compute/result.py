"""Sealing a result folder for the buyer, and opening it on the buyer's side.

Provider: `seal_result(output_dir, buyer_public_key)` packs the folder into deterministic tar
bytes, encrypts them to the buyer (ECIES, `insitu.crypto.ecies`) and hashes the ciphertext.
The on-chain result hash is keccak256 of the *ciphertext*: it is what was published on IPFS,
so anyone can check the fulfilment against the public object without the buyer's key, the
EVM computes keccak256 natively, and unlike a CID it does not depend on IPFS chunking. (The
plaintext is not hashed on-chain: ECIES is randomised, and a plaintext hash of a small result,
e.g. one count, could be brute-forced.)

Buyer: `open_result(ciphertext, expected_hash=..., private_key=..., dest=...)` verifies the
hash before decrypting, decrypts, unpacks safely and returns an `OpenedResult`.
"""

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import keccak

from insitu.compute.errors import OutputTooLargeError, ResultError
from insitu.compute.tarball import pack_folder, unpack_bytes
from insitu.crypto import ecies

MAX_RESULT_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class SealedResult:
    """An encrypted result ready for IPFS, and the hash to fulfil the agreement with."""

    ciphertext: bytes
    result_hash: str
    plaintext_bytes: int


def pack_result(output_dir: Path | str, *, max_bytes: int = MAX_RESULT_BYTES) -> bytes:
    """Deterministic tar bytes of a result folder (symlinks and special files refused)."""
    return pack_folder(Path(output_dir), error=OutputTooLargeError, max_bytes=max_bytes)


def result_hash(ciphertext: bytes) -> str:
    """keccak256 of the ciphertext, 0x-prefixed: the on-chain result hash."""
    return "0x" + keccak(ciphertext).hex()


def seal_result(
    output_dir: Path | str, buyer_public_key: bytes | str, *, max_bytes: int = MAX_RESULT_BYTES
) -> SealedResult:
    """Pack, encrypt to the buyer and hash a result folder."""
    plaintext = pack_result(output_dir, max_bytes=max_bytes)
    ciphertext = ecies.encrypt(buyer_public_key, plaintext)
    return SealedResult(ciphertext, result_hash(ciphertext), len(plaintext))


@dataclass(frozen=True)
class OpenedResult:
    """A decrypted, unpacked result folder on the buyer's machine."""

    folder: Path
    files: tuple[str, ...]

    def load_json(self, name: str) -> Any:
        """Parse `name` (e.g. metrics.json, stats.json, result.json) from the result."""
        path = self.folder / name
        if name not in self.files:
            raise ResultError(f"the result has no {name}; it holds {', '.join(self.files)}.")
        return json.loads(path.read_text())

    def metrics(self) -> Any:
        """The `metrics.json` of a training result."""
        return self.load_json("metrics.json")

    def load_model(self, name: str = "model.pkl") -> Any:
        """Unpickle the fitted model.

        Unpickling executes code chosen by the file's author: call this only for a result
        whose hash the agreement fulfilled, from a provider you trust.
        """
        if name not in self.files:
            raise ResultError(f"the result has no {name}; it holds {', '.join(self.files)}.")
        with open(self.folder / name, "rb") as f:
            return pickle.load(f)


def open_result(
    ciphertext: bytes,
    *,
    expected_hash: str | bytes,
    private_key: Any,
    dest: Path | str,
    max_bytes: int = MAX_RESULT_BYTES,
) -> OpenedResult:
    """Verify, decrypt and unpack a sealed result into `dest` (the buyer's side)."""
    expected = "0x" + (
        expected_hash.hex()
        if isinstance(expected_hash, bytes)
        else expected_hash.lower().removeprefix("0x")
    )
    actual = result_hash(ciphertext)
    if actual != expected:
        raise ResultError(
            f"result bytes hash to {actual} but the agreement was fulfilled with "
            f"{expected}: the fetched content is not the result; refetch by CID."
        )
    try:
        plaintext = ecies.decrypt(private_key, ciphertext)
    except ecies.CryptoError as exc:
        raise ResultError(str(exc)) from exc
    dest = Path(dest)
    files = unpack_bytes(plaintext, dest, max_bytes=max_bytes, error=ResultError)
    return OpenedResult(dest, tuple(files))
