"""The job document: what a compute buyer commits to on-chain besides the algorithm hash.

The buyer puts this JSON document on IPFS and creates the agreement with its CID and keccak256
hash (``paramsCid`` / ``paramsHash``); the hash is fixed in the agreement (and covered by the
buyer's EIP-712 signature on the relayed path), so neither a relayer nor anyone else can swap
it. The provider's worker reads it to learn::

    {
      "format": "insitu.compute-job/1",
      "algorithm_asset": "0x…",          # the registered algorithm asset (its metadata names the
                                         # package's IPFS CID and hash)
      "params": {…},                     # the algorithm's parameters, checked against its schema
      "encryption_key": "0x04…",         # the buyer's secp256k1 public key (65 bytes, hex)
      "secure_sum": {                    # only for federated queries (masked outputs)
        "session": "0x…",                # unique per query: the masks are derived from it
        "participants": ["0x04…", …],    # every provider's public key, this one included
        "length": 4                      # how many values each provider outputs
      }
    }

Why the public key travels here: the result is encrypted to it, and the provider checks that it
belongs to the agreement's consumer (``address_of_public_key(key) == terms.consumer``), so only
the account that paid can decrypt, whichever path created the agreement (direct ``create``
carries no signature to recover a key from). A federated query's agreements all share one
document, hence one ``paramsHash``: that is how a provider checks every participant is real.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak

from insitu.compute.errors import ParamsError
from insitu.crypto.ecies import CryptoError, address_of_public_key, normalise_public_key

FORMAT = "insitu.compute-job/1"
_BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
MAX_SECURE_SUM_LENGTH = 64


@dataclass(frozen=True)
class SecureSum:
    """The federated part of a job document: the masks' session and participants."""

    session: str
    participants: tuple[str, ...]
    length: int

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "participants": list(self.participants),
            "length": self.length,
        }

    def participant_keys(self) -> list[bytes]:
        return [normalise_public_key(p) for p in self.participants]


@dataclass(frozen=True)
class JobDocument:
    """A parsed job document (see the module docstring)."""

    algorithm_asset: str
    params: dict[str, Any]
    encryption_key: str
    secure_sum: SecureSum | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "algorithm_asset": self.algorithm_asset,
            "params": self.params,
            "encryption_key": self.encryption_key,
        }
        if self.secure_sum is not None:
            doc["secure_sum"] = self.secure_sum.to_json()
        return doc

    def encode(self) -> bytes:
        """Canonical JSON, the bytes whose keccak256 is the agreement's ``paramsHash``."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    def buyer_address(self) -> str:
        """The Ethereum address of ``encryption_key``."""
        return address_of_public_key(self.encryption_key)


def parse_job_document(
    data: bytes, *, expected_hash: bytes | None = None, source: str = "job document"
) -> JobDocument:
    """Check ``data`` against the on-chain hash and parse it; ``ParamsError`` says what is wrong."""
    if expected_hash is not None and keccak(data) != bytes(expected_hash):
        raise ParamsError(
            f"{source} does not hash to the agreement's paramsHash: the CID names "
            "other content than the buyer committed to."
        )
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParamsError(f"{source} is not JSON ({exc}).") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ParamsError(
            f"{source} is not an {FORMAT} document: buy compute jobs with "
            "insitu.compute.buyer.request_compute."
        )
    asset = doc.get("algorithm_asset")
    if not (isinstance(asset, str) and _BYTES32.match(asset)):
        raise ParamsError(f"{source}: algorithm_asset must be a 0x-prefixed 32-byte asset id.")
    params = doc.get("params")
    if not isinstance(params, dict):
        raise ParamsError(f"{source}: params must be a JSON object.")
    key = doc.get("encryption_key")
    try:
        key_hex = "0x" + normalise_public_key(str(key)).hex()
    except (CryptoError, ValueError) as exc:
        raise ParamsError(f"{source}: encryption_key is not a secp256k1 public key.") from exc
    secure = doc.get("secure_sum")
    return JobDocument(
        asset.lower(),
        params,
        key_hex,
        _parse_secure_sum(secure, source) if secure is not None else None,
    )


def _parse_secure_sum(value: Any, source: str) -> SecureSum:
    if not isinstance(value, dict):
        raise ParamsError(f"{source}: secure_sum must be an object.")
    session, participants, length = (
        value.get("session"),
        value.get("participants"),
        value.get("length"),
    )
    if not (isinstance(session, str) and _BYTES32.match(session)):
        raise ParamsError(f"{source}: secure_sum.session must be a fresh random 32-byte hex id.")
    if not (isinstance(participants, list) and len(participants) >= 2):
        raise ParamsError(f"{source}: secure_sum.participants must list at least two keys.")
    if not (isinstance(length, int) and 1 <= length <= MAX_SECURE_SUM_LENGTH):
        raise ParamsError(f"{source}: secure_sum.length must be 1..{MAX_SECURE_SUM_LENGTH}.")
    try:
        keys = tuple("0x" + normalise_public_key(str(p)).hex() for p in participants)
    except (CryptoError, ValueError) as exc:
        raise ParamsError(f"{source}: a secure_sum participant is not a public key.") from exc
    if len(set(keys)) != len(keys):
        raise ParamsError(f"{source}: secure_sum.participants has duplicates.")
    return SecureSum(session.lower(), keys, length)
