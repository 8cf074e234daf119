"""The embedded store: Kubo's CIDs without a daemon, atomic writes, every read checked."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from cid_vectors import load_vectors, make_content
from multiformats import CID

from insitu.errors import InsituError
from insitu.storage import (
    ContentMismatch,
    ContentStore,
    EmbeddedStore,
    InvalidCid,
    KuboStore,
    NotFound,
    compute_cid,
    open_store,
)
from insitu.storage.unixfs import CHUNK_SIZE, build_file

SMALL_VECTORS = [v for v in load_vectors() if v["content"]["size"] <= 3 * 1024 * 1024]


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "store", fsync=False)


@pytest.mark.parametrize("vector", SMALL_VECTORS, ids=[v["name"] for v in SMALL_VECTORS])
def test_add_returns_node_cids_and_cat_round_trips(
    store: EmbeddedStore, vector: dict[str, object]
) -> None:
    data = make_content(vector["content"])  # type: ignore[arg-type]
    cids = vector["cids"]
    assert isinstance(cids, dict)
    assert store.add(data) == cids["cidv1_raw_leaves"]
    assert store.add(data, cid_version=0) == cids["cidv0"]
    for cid in (cids["cidv1_raw_leaves"], cids["cidv0"]):
        assert store.cat(cid) == data
        assert store.has(cid)


def test_is_a_content_store(store: EmbeddedStore) -> None:
    assert isinstance(store, ContentStore)
    assert store.version().startswith("insitu-embedded/")


def test_blocks_are_shared_between_cid_versions(store: EmbeddedStore) -> None:
    data = b"shared" * 100_000
    v0 = store.add(data, cid_version=0)
    # The CIDv1 spelling of a CIDv0 root names the same dag-pb block (keyed by multihash).
    v1_of_v0 = str(CID.decode(v0).set(version=1, base="base32"))
    assert store.cat(v1_of_v0) == data


def test_tampered_leaf_is_detected(store: EmbeddedStore) -> None:
    data = make_content({"kind": "shake256", "seed": "tamper", "size": 2 * CHUNK_SIZE + 7})
    cid = store.add(data)
    leaf = next(c for c in build_file(data).blocks if c != cid)
    path = store.block_path(leaf)
    damaged = bytearray(path.read_bytes())
    damaged[1000] ^= 0x01
    path.write_bytes(bytes(damaged))
    with pytest.raises(ContentMismatch, match=leaf):
        store.cat(cid)
    # Adding the same content again repairs the damaged block.
    assert store.add(data) == cid
    assert store.cat(cid) == data


def test_tampered_single_block_file_is_detected(store: EmbeddedStore) -> None:
    cid = store.add(b"result: 42")
    store.block_path(cid).write_bytes(b"result: 43")
    with pytest.raises(ContentMismatch):
        store.cat(cid)


def test_unknown_cid_is_not_found(store: EmbeddedStore) -> None:
    unknown = compute_cid(b"never stored")
    assert not store.has(unknown)
    with pytest.raises(NotFound, match="not in the embedded store") as caught:
        store.cat(unknown)
    assert isinstance(caught.value, InsituError)
    with pytest.raises(NotFound):
        store.pin(unknown)


def test_missing_leaf_makes_has_false(store: EmbeddedStore) -> None:
    data = make_content({"kind": "shake256", "seed": "missing", "size": CHUNK_SIZE + 1})
    cid = store.add(data)
    leaf = next(c for c in build_file(data).blocks if c != cid)
    store.block_path(leaf).unlink()
    assert not store.has(cid)
    with pytest.raises(NotFound):
        store.cat(cid)


def test_invalid_cid_is_rejected(store: EmbeddedStore) -> None:
    with pytest.raises(InvalidCid, match="not a CID"):
        store.cat("not-a-cid")


def test_pin(store: EmbeddedStore) -> None:
    cid = store.add(b"unpinned", pin=False)
    assert not store.is_pinned(cid)
    store.pin(cid)
    assert store.is_pinned(cid)
    v0 = store.add(b"pinned v0", cid_version=0)
    assert store.is_pinned(str(CID.decode(v0).set(version=1, base="base32")))


def test_put_block_checks_the_hash(store: EmbeddedStore) -> None:
    cid = compute_cid(b"block")
    store.put_block(cid, b"block")
    assert store.cat(cid) == b"block"
    with pytest.raises(ContentMismatch):
        store.put_block(cid, b"other")


def test_no_temporary_files_left(store: EmbeddedStore) -> None:
    store.add(make_content({"kind": "shake256", "seed": "tmp", "size": 3 * CHUNK_SIZE}))
    assert not [p for p in store.root_dir.rglob(".tmp-*")]


def _add_from_worker(args: tuple[str, int]) -> str:
    root, worker = args
    store = EmbeddedStore(Path(root))
    shared = make_content({"kind": "shake256", "seed": "shared", "size": 4 * CHUNK_SIZE + 3})
    own = make_content({"kind": "shake256", "seed": f"own-{worker}", "size": CHUNK_SIZE + 9})
    for _ in range(3):
        store.add(shared)
    store.add(own)
    return store.add(shared)


def test_concurrent_writers_from_several_processes(tmp_path: Path) -> None:
    root = tmp_path / "shared-store"
    EmbeddedStore(root)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        cids = pool.map(_add_from_worker, [(str(root), i) for i in range(4)])
    store = EmbeddedStore(root)
    shared = make_content({"kind": "shake256", "seed": "shared", "size": 4 * CHUNK_SIZE + 3})
    assert set(cids) == {compute_cid(shared)}
    assert store.cat(cids[0]) == shared
    for worker in range(4):
        own = make_content({"kind": "shake256", "seed": f"own-{worker}", "size": CHUNK_SIZE + 9})
        assert store.cat(compute_cid(own)) == own
    assert not [p for p in root.rglob(".tmp-*")]


def test_open_store_picks_backend(tmp_path: Path) -> None:
    assert isinstance(open_store(None, tmp_path / "s"), EmbeddedStore)
    assert isinstance(open_store("", tmp_path / "s"), EmbeddedStore)
    kubo = open_store("/ip4/127.0.0.1/tcp/5001", tmp_path / "s")
    assert isinstance(kubo, KuboStore) and kubo.api_url == "http://127.0.0.1:5001"
