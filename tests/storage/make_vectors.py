"""Regenerate vectors.json from a live IPFS node: ``python tests/storage/make_vectors.py``.

Starts the test-only js-ipfs node (tests/ipfs-node, ``npm install`` there first) unless
``--api-url`` points at another node (e.g. a real Kubo), adds every test file in every mode with
plain HTTP calls (not through insitu's own client, so the vectors do not depend on the code
they test) and writes what the node printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cid_vectors import MODES, VECTORS_PATH, make_content
from jsipfs_node import running_node

CHUNK = 262_144

RECIPES: list[tuple[str, dict[str, Any]]] = [
    ("empty", {"kind": "shake256", "seed": "empty", "size": 0}),
    ("one-byte", {"kind": "affine", "mul": 7, "add": 3, "size": 1}),
    ("toolchain-100-bytes", {"kind": "affine", "mul": 7, "add": 3, "size": 100}),
    ("one-chunk", {"kind": "shake256", "seed": "insitu/one-chunk", "size": CHUNK}),
    ("one-chunk-plus-one", {"kind": "shake256", "seed": "insitu/one-chunk+1", "size": CHUNK + 1}),
    (
        "toolchain-2-mib",
        {"kind": "python-random-getrandbits8", "seed": 42, "size": 2 * 1024 * 1024},
    ),
    ("full-level-174-chunks", {"kind": "shake256", "seed": "insitu/174", "size": 174 * CHUNK}),
    (
        "two-levels-175-chunks-plus-one",
        {"kind": "shake256", "seed": "insitu/175+1", "size": 175 * CHUNK + 1},
    ),
]


def node_add(api_url: str, data: bytes, cid_version: int, raw_leaves: bool) -> str:
    """The CID the node prints for ``ipfs add --cid-version=N --raw-leaves=B`` (nothing pinned)."""
    params = {
        "cid-version": str(cid_version),
        "raw-leaves": str(raw_leaves).lower(),
        "pin": "false",
        "cid-base": "base32" if cid_version == 1 else "base58btc",
    }
    response = requests.post(
        f"{api_url}/api/v0/add",
        params=params,
        files={"file": ("data", data, "application/octet-stream")},
        timeout=300,
    )
    response.raise_for_status()
    return str(json.loads(response.text.strip().splitlines()[-1])["Hash"])


def record(api_url: str, source: str) -> dict[str, Any]:
    """Every recipe's metadata and node CIDs."""
    version = requests.post(f"{api_url}/api/v0/version", timeout=10).json()
    vectors = []
    for name, recipe in RECIPES:
        data = make_content(recipe)
        cids = {
            mode: node_add(api_url, data, flags["cid_version"], flags["raw_leaves"])
            for mode, flags in MODES.items()
        }
        vectors.append(
            {
                "name": name,
                "content": recipe,
                "sha256": hashlib.sha256(data).hexdigest(),
                "cids": cids,
            }
        )
        print(name, cids, file=sys.stderr)
    return {
        "source": f"{source}, RPC version {version.get('Version')}",
        "modes": {
            mode: f"--cid-version={f['cid_version']} --raw-leaves={str(f['raw_leaves']).lower()}"
            for mode, f in MODES.items()
        },
        "vectors": vectors,
    }


def main() -> None:
    """Write vectors.json from the node at ``--api-url`` or a freshly started js-ipfs node."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", help="use this running node instead of starting js-ipfs")
    args = parser.parse_args()
    if args.api_url:
        result = record(args.api_url, f"node at {args.api_url}")
    else:
        with tempfile.TemporaryDirectory() as tmp, running_node(Path(tmp)) as node:
            result = record(node.api_url, "js-ipfs 0.66.1 (tests/ipfs-node)")
    VECTORS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {VECTORS_PATH}", file=sys.stderr)


if __name__ == "__main__":
    main()
