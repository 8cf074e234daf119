"""KuboStore against a live Kubo-compatible node (the test-only js-ipfs of tests/ipfs-node)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests
from cid_vectors import MODES, load_vectors, make_content
from jsipfs_node import RunningNode, free_port

from insitu.errors import StackError
from insitu.storage import (
    ContentMismatch,
    ContentStore,
    EmbeddedStore,
    KuboStore,
    KuboUnreachable,
    NotFound,
    compute_cid,
)
from insitu.storage.kubo import normalize_api_url
from insitu.storage.unixfs import CHUNK_SIZE, build_file

ALL_VECTORS = load_vectors()
SMALL_VECTORS = [v for v in ALL_VECTORS if v["content"]["size"] <= 3 * 1024 * 1024]


@pytest.fixture
def kubo(ipfs_node: RunningNode) -> KuboStore:
    return KuboStore(ipfs_node.api_url, timeout=60, fetch_timeout=1)


def _raw_add(api_url: str, data: bytes, **params: str) -> str:
    """Add through the bare RPC API, bypassing KuboStore's own settings and checks."""
    response = requests.post(
        f"{api_url}/api/v0/add",
        params={"pin": "false", **params},
        files={"file": ("data", data, "application/octet-stream")},
        timeout=60,
    )
    response.raise_for_status()
    return str(json.loads(response.text.strip().splitlines()[-1])["Hash"])


# --- no node needed ----------------------------------------------------------------------------


def test_unreachable_url_gives_clear_error() -> None:
    store = KuboStore(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(KuboUnreachable, match=r"unreachable.*start the daemon.*INSITU_IPFS_URL"):
        store.add(b"x")
    with pytest.raises(StackError):
        store.version()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:5001", "http://127.0.0.1:5001"),
        ("http://127.0.0.1:5001/api/v0/", "http://127.0.0.1:5001"),
        ("localhost:5001", "http://localhost:5001"),
        ("/ip4/10.0.0.2/tcp/5001/http", "http://10.0.0.2:5001"),
        ("/dns4/ipfs.internal/tcp/443/https", "https://ipfs.internal:443"),
        ("/ip6/::1/tcp/5001", "http://[::1]:5001"),
    ],
)
def test_api_url_forms(given: str, expected: str) -> None:
    assert normalize_api_url(given) == expected


# --- live node ---------------------------------------------------------------------------------


@pytest.mark.ipfs_node
def test_version_and_protocol(kubo: KuboStore) -> None:
    assert isinstance(kubo, ContentStore)
    assert kubo.version().startswith("kubo-rpc/")


@pytest.mark.ipfs_node
@pytest.mark.parametrize("vector", SMALL_VECTORS, ids=[v["name"] for v in SMALL_VECTORS])
def test_add_cat_match_vectors_and_embedded_store(
    kubo: KuboStore, tmp_path: Path, vector: dict[str, object]
) -> None:
    data = make_content(vector["content"])  # type: ignore[arg-type]
    cids = vector["cids"]
    assert isinstance(cids, dict)
    embedded = EmbeddedStore(tmp_path, fsync=False)
    for version, mode in ((1, "cidv1_raw_leaves"), (0, "cidv0")):
        cid = kubo.add(data, cid_version=version)
        assert cid == cids[mode] == embedded.add(data, cid_version=version)
        assert kubo.cat(cid) == data
        assert kubo.has(cid)


@pytest.mark.ipfs_node
def test_node_still_prints_the_recorded_vectors(ipfs_node: RunningNode) -> None:
    """The committed vectors come from this node; re-check the small ones in every mode."""
    for vector in SMALL_VECTORS:
        data = make_content(vector["content"])
        for mode, flags in MODES.items():
            params = {
                "cid-version": str(flags["cid_version"]),
                "raw-leaves": str(flags["raw_leaves"]).lower(),
                "cid-base": "base32" if flags["cid_version"] else "base58btc",
            }
            assert _raw_add(ipfs_node.api_url, data, **params) == vector["cids"][mode]


@pytest.mark.ipfs_node
def test_multi_level_file_through_node(kubo: KuboStore) -> None:
    vector = next(v for v in ALL_VECTORS if v["content"]["size"] > 175 * CHUNK_SIZE)
    data = make_content(vector["content"])
    cid = kubo.add(data)
    assert cid == vector["cids"]["cidv1_raw_leaves"]
    assert kubo.cat(cid) == data


@pytest.mark.ipfs_node
def test_pin_and_has(kubo: KuboStore, ipfs_node: RunningNode) -> None:
    data = b"pin me " * 1000
    cid = _raw_add(ipfs_node.api_url, data, **{"cid-version": "1", "cid-base": "base32"})
    kubo.pin(cid)
    listed = requests.post(
        f"{ipfs_node.api_url}/api/v0/pin/ls", params={"arg": cid}, timeout=10
    ).json()
    assert listed["Keys"]
    assert kubo.has(cid)


@pytest.mark.ipfs_node
def test_unknown_cid(kubo: KuboStore) -> None:
    unknown = compute_cid(b"nobody ever added this")
    start = time.monotonic()
    assert not kubo.has(unknown)
    with pytest.raises(NotFound, match="does not have"):
        kubo.cat(unknown)
    with pytest.raises(NotFound):
        kubo.pin(unknown)
    assert time.monotonic() - start < 10


@pytest.mark.ipfs_node
def test_cat_verifies_content_built_with_other_settings(
    kubo: KuboStore, ipfs_node: RunningNode
) -> None:
    """A CID from another chunker is still checked, block by block."""
    data = make_content({"kind": "shake256", "seed": "small-chunks", "size": 10_000})
    params = {"cid-version": "1", "cid-base": "base32", "chunker": "size-1000"}
    cid = _raw_add(ipfs_node.api_url, data, **params)
    assert cid != compute_cid(data)
    assert kubo.cat(cid) == data


@pytest.mark.ipfs_node
def test_tampered_block_on_node_is_detected(kubo: KuboStore, ipfs_node: RunningNode) -> None:
    data = make_content({"kind": "shake256", "seed": "tamper-on-node", "size": CHUNK_SIZE + 5})
    cid = kubo.add(data)
    leaf = next(block for c, block in build_file(data).blocks.items() if c != cid)
    on_disk = [p for p in (ipfs_node.ipfs_path / "blocks").rglob("*") if p.is_file()]
    damaged = [p for p in on_disk if p.read_bytes() == leaf]
    assert damaged, "the node's blockstore layout changed: cannot find the leaf block on disk"
    damaged[0].write_bytes(b"X" + leaf[1:])
    with pytest.raises(ContentMismatch, match="corrupt"):
        kubo.cat(cid)
