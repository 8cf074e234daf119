"""Load compiled contract artifacts (ABI + bytecode) shipped inside the package.

The SDK never needs a compiler: ``insitu/artifacts/<Name>.json`` is committed and kept in sync
with ``contracts/`` by ``python -m insitu.toolchain.build`` (CI runs it with ``--check``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from insitu.errors import ToolchainError

ARTIFACTS_DIR = Path(__file__).resolve().parents[1] / "artifacts"


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """Return ``{"contractName", "abi", "bytecode", "deployedBytecode", ...}`` for a contract."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))
        raise ToolchainError(
            f"no compiled artifact for contract {name!r} (known: {known}); "
            "run `python -m insitu.toolchain.build` after adding or renaming a contract."
        )
    return json.loads(path.read_text())


def all_abis() -> dict[str, list[dict[str, Any]]]:
    """Every shipped contract's ABI by name (used to decode custom errors and events)."""
    return {p.stem: load_artifact(p.stem)["abi"] for p in sorted(ARTIFACTS_DIR.glob("*.json"))}
