"""Test vectors for the CID builder: deterministic content recipes and the recorded node CIDs.

``vectors.json`` stores how to make each test file (a recipe), its size and sha-256 (so a drift
in a recipe is caught before the CIDs are compared), and the CIDs a real IPFS node printed for
it in each import mode. ``make_vectors.py`` regenerates the file from a live node.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

VECTORS_PATH = Path(__file__).with_name("vectors.json")

# Each mode is the exact `ipfs add` flags and the matching compute_cid keyword arguments.
MODES: dict[str, dict[str, Any]] = {
    "cidv0": {"cid_version": 0, "raw_leaves": False},
    "cidv1_raw_leaves": {"cid_version": 1, "raw_leaves": True},
    "cidv1_dag_pb_leaves": {"cid_version": 1, "raw_leaves": False},
}


def make_content(recipe: dict[str, Any]) -> bytes:
    """The bytes a recipe describes (see vectors.json for the recipes in use)."""
    kind = recipe["kind"]
    size = int(recipe["size"])
    if kind == "affine":
        # TOOLCHAIN.md's 100-byte file: bytes((i*7+3) % 256 for i in range(100)).
        mul, add = int(recipe["mul"]), int(recipe["add"])
        return bytes((i * mul + add) % 256 for i in range(size))
    if kind == "python-random-getrandbits8":
        # TOOLCHAIN.md's 2 MiB file; getrandbits is stable across CPython versions for a seed.
        rng = random.Random(recipe["seed"])
        return bytes(rng.getrandbits(8) for _ in range(size))
    if kind == "shake256":
        # Fast (0.2 s for 45 MB) and never repeats a chunk, so no block is deduplicated.
        return hashlib.shake_256(str(recipe["seed"]).encode()).digest(size)
    raise ValueError(f"unknown content recipe {kind!r}")


def load_vectors() -> list[dict[str, Any]]:
    """The recorded vectors, each with ``name``, ``content`` (recipe), ``sha256`` and ``cids``."""
    return list(json.loads(VECTORS_PATH.read_text())["vectors"])
