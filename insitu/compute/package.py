"""Algorithm packages: a folder with `manifest.json` plus Python files, content-addressed.

The manifest::

    {
      "name": "describe",                     # [a-z0-9_-], used in logs and file names
      "version": "1.0.0",
      "entry_point": "describe:run",          # module:function inside the package
      "description": "...",                   # optional
      "parameters": { JSON Schema },          # the job parameters the consumer passes
      "outputs": [{"path": "stats.json", "description": "..."}]
    }

The entry point is called as ``function(ctx)`` with the `insitu.compute.jail.Context` of the run.

`pack()` turns the folder into deterministic tar bytes; `algorithm_hash()` is the sha256 of
those bytes as 0x-prefixed bytes32 hex: the value a provider allowlists on-chain. The IPFS CID
of the same bytes (`insitu.storage.compute_cid`) is where buyers and providers fetch it.
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from insitu.compute.errors import HashMismatchError, PackageError, ParamsError
from insitu.compute.tarball import pack_folder, unpack_bytes

MANIFEST_NAME = "manifest.json"
MAX_PACKAGE_BYTES = 16 * 1024 * 1024

_IDENT = "[A-Za-z_][A-Za-z0-9_]*"
_ENTRY_POINT_PATTERN = rf"^{_IDENT}(\.{_IDENT})*:{_IDENT}$"
_MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version", "entry_point", "parameters", "outputs"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
        "version": {"type": "string", "minLength": 1, "maxLength": 64},
        "entry_point": {
            "type": "string",
            "pattern": _ENTRY_POINT_PATTERN,
        },
        "description": {"type": "string"},
        "parameters": {"type": "object"},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path"],
                "properties": {"path": {"type": "string"}, "description": {"type": "string"}},
            },
        },
    },
}


@dataclass(frozen=True)
class Manifest:
    """The parsed, validated `manifest.json` of an algorithm package."""

    name: str
    version: str
    entry_point: str
    parameters: dict[str, Any]
    outputs: tuple[dict[str, Any], ...]
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def module(self) -> str:
        """The module part of the entry point."""
        return self.entry_point.split(":", 1)[0]

    @property
    def function(self) -> str:
        """The function part of the entry point."""
        return self.entry_point.split(":", 1)[1]


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def parse_manifest(text: str | bytes, *, source: str = MANIFEST_NAME) -> Manifest:
    """Parse and validate manifest JSON; `source` names the file in error messages."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(f"{source} is not valid JSON ({exc}): fix the file.") from exc
    errors = sorted(
        jsonschema.Draft202012Validator(_MANIFEST_SCHEMA).iter_errors(raw),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        first = errors[0]
        raise PackageError(
            f"{source}: field {_where(first.absolute_path)}: {first.message}. "
            "See insitu.compute.package for the manifest format."
        )
    try:
        jsonschema.Draft202012Validator.check_schema(raw["parameters"])
    except jsonschema.SchemaError as exc:
        raise PackageError(
            f"{source}: 'parameters' is not a valid JSON Schema: {exc.message} "
            f"(at {_where(exc.absolute_path)})."
        ) from exc
    return Manifest(
        name=raw["name"],
        version=raw["version"],
        entry_point=raw["entry_point"],
        parameters=raw["parameters"],
        outputs=tuple(raw["outputs"]),
        description=raw.get("description", ""),
        raw=raw,
    )


def read_manifest(folder: Path) -> Manifest:
    """Read and validate `folder/manifest.json`, and check the entry module file exists."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise PackageError(f"{folder} has no {MANIFEST_NAME}: every algorithm package needs one.")
    manifest = parse_manifest(path.read_bytes(), source=str(path))
    module_rel = Path(*manifest.module.split("."))
    if not (
        (folder / module_rel).with_suffix(".py").is_file()
        or (folder / module_rel / "__init__.py").is_file()
    ):
        raise PackageError(
            f"{path}: entry point {manifest.entry_point!r} names module "
            f"{manifest.module!r} but {module_rel}.py is not in the package."
        )
    return manifest


def pack(folder: Path | str) -> bytes:
    """Deterministic tar bytes of an algorithm package folder (the manifest is validated)."""
    folder = Path(folder)
    read_manifest(folder)
    return pack_folder(folder, error=PackageError, max_bytes=MAX_PACKAGE_BYTES)


def algorithm_hash(package_bytes: bytes) -> str:
    """The algorithm hash providers allowlist: sha256 of the package bytes, 0x-prefixed hex."""
    return "0x" + hashlib.sha256(package_bytes).hexdigest()


def _normalise_hash(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return "0x" + value.lower().removeprefix("0x")


def verify_hash(package_bytes: bytes, expected: str | bytes) -> None:
    """Raise HashMismatchError unless the package bytes hash to `expected` (bytes32 hex/bytes)."""
    actual = algorithm_hash(package_bytes)
    if actual != _normalise_hash(expected):
        raise HashMismatchError(
            f"algorithm package hashes to {actual} but the agreement names "
            f"{_normalise_hash(expected)}: the fetched bytes are not the allowlisted algorithm; "
            "refetch by the agreement's CID or reject the job."
        )


def unpack(
    package_bytes: bytes, dest: Path | str, *, expected_hash: str | bytes | None = None
) -> Manifest:
    """Verify (optionally) and unpack a package into `dest`; returns its validated manifest."""
    dest = Path(dest)
    if expected_hash is not None:
        verify_hash(package_bytes, expected_hash)
    unpack_bytes(package_bytes, dest, max_bytes=4 * MAX_PACKAGE_BYTES, error=PackageError)
    return read_manifest(dest)


def validate_params(manifest: Manifest, params: Any) -> None:
    """Raise ParamsError naming the offending field unless `params` fits the manifest schema."""
    validator = jsonschema.Draft202012Validator(manifest.parameters)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    details = "; ".join(f"{_where(e.absolute_path)}: {e.message}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    raise ParamsError(
        f"parameters for algorithm {manifest.name} {manifest.version} are invalid: "
        f"{details}{more}. Fix them to match the algorithm's parameter schema."
    )
