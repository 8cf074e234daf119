"""Asset metadata documents: what a dataset, algorithm or model is, published on IPFS.

The chain stores only the document's CID (in the ``AssetRegistered`` event) and its keccak256
hash; anyone can fetch the document and check it against that hash. Documents are canonical
JSON (sorted keys, no insignificant whitespace), so equal metadata always has the same CID.
Private data is never described by location: a provider's data path lives in its worker's
configuration, not here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import jsonschema
from eth_utils import keccak

from insitu.errors import InsituError
from insitu.storage import ContentStore


class MetadataError(InsituError):
    """A metadata document is malformed or does not match its on-chain hash."""


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "kind", "description"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "kind": {"enum": ["dataset", "algorithm", "model"]},
        "description": {"type": "string", "maxLength": 5000},
        "author": {"type": "string", "maxLength": 200},
        "license": {"type": "string", "maxLength": 100},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 50}, "maxItems": 20},
        # Datasets: the columns a buyer's algorithm may rely on (names and types, never values).
        "columns": {
            "type": "array",
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["name", "type"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "type": {"enum": ["number", "integer", "category", "boolean", "string"]},
                    "unit": {"type": "string"},
                    "description": {"type": "string"},
                },
            },
        },
        "rows": {"type": "integer", "minimum": 0},
        # Algorithms: the content hash of the package and its IPFS CID.
        "package_cid": {"type": "string"},
        "package_hash": {"type": "string", "pattern": "^0x[0-9a-f]{64}$"},
        "extra": {"type": "object"},
    },
}


@dataclass(frozen=True)
class AssetMetadata:
    """A validated metadata document."""

    name: str
    kind: str
    description: str
    author: str = ""
    license: str = ""
    tags: tuple[str, ...] = ()
    columns: tuple[dict[str, Any], ...] = ()
    rows: int | None = None
    package_cid: str = ""
    package_hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        """The JSON document, without empty optional fields."""
        doc = asdict(self)
        doc["tags"] = list(self.tags)
        doc["columns"] = list(self.columns)
        return {k: v for k, v in doc.items() if v not in ("", (), [], {}, None)}

    def encode(self) -> bytes:
        """Canonical JSON bytes: the same metadata always gives the same CID and hash."""
        return json.dumps(self.to_document(), sort_keys=True, separators=(",", ":")).encode()

    def content_hash(self) -> bytes:
        """keccak256 of the canonical bytes: what the registry stores."""
        return keccak(self.encode())

    def publish(self, store: ContentStore) -> tuple[str, bytes]:
        """Add the document to IPFS; return (CID, keccak256 hash)."""
        data = self.encode()
        return store.add(data), keccak(data)


def parse_metadata(
    document: dict[str, Any] | str | bytes, *, source: str = "metadata"
) -> AssetMetadata:
    """Validate a metadata document (dict or JSON text) and return it typed.

    Example::

        >>> parse_metadata({"name": "Bank A transactions", "kind": "dataset",
        ...                 "description": "card payments, 2025"}).name
        'Bank A transactions'
    """
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise MetadataError(
                f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}); fix the file."
            ) from exc
    if not isinstance(document, dict):
        raise MetadataError(f"{source} must be a JSON object, got {type(document).__name__}.")
    errors = sorted(
        jsonschema.Draft202012Validator(SCHEMA).iter_errors(document), key=lambda e: e.path
    )
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise MetadataError(
            f"{source}: field {where}: {err.message}. "
            f"Allowed fields: {sorted(SCHEMA['properties'])}; required: {SCHEMA['required']}."
        )
    return AssetMetadata(
        **{
            **document,
            "tags": tuple(document.get("tags", ())),
            "columns": tuple(document.get("columns", ())),
        }
    )


def load_metadata(
    store: ContentStore, cid: str, expected_hash: bytes | None = None
) -> AssetMetadata:
    """Fetch a document from IPFS, check it against the on-chain hash, and validate it."""
    data = store.cat(cid)
    if expected_hash is not None and keccak(data) != bytes(expected_hash):
        raise MetadataError(
            f"metadata {cid} does not match the hash registered on-chain; the owner must "
            "publish it again with update_metadata."
        )
    return parse_metadata(data, source=f"metadata {cid}")
