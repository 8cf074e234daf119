"""The UnixFS builder reproduces the CIDs a real IPFS node printed, in every import mode."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cid_vectors import MODES, load_vectors, make_content
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID

from insitu.storage import InvalidCid, MalformedDag, UnsupportedImport, compute_cid
from insitu.storage.cid import DAG_PB, RAW, Cid
from insitu.storage.errors import ContentMismatch
from insitu.storage.unixfs import (
    CHUNK_SIZE,
    KUBO_DEFAULTS,
    ImportSettings,
    build_file,
    canonical_cid,
    decode_pbnode,
    encode_pbnode,
    encode_unixfs_file,
    read_file,
)

VECTORS = load_vectors()


def _content(vector: dict[str, Any]) -> bytes:
    data = make_content(vector["content"])
    # A drifting recipe would make every CID comparison below meaningless.
    assert hashlib.sha256(data).hexdigest() == vector["sha256"], vector["name"]
    return data


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_compute_cid_matches_node_vectors(vector: dict[str, Any]) -> None:
    data = _content(vector)
    for mode, flags in MODES.items():
        assert compute_cid(data, **flags) == vector["cids"][mode], f"{vector['name']} {mode}"


def test_vectors_cover_the_edge_cases() -> None:
    sizes = {v["content"]["size"] for v in VECTORS}
    assert {0, 1, 100, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * 1024 * 1024, 174 * CHUNK_SIZE} <= sizes
    assert max(sizes) > 175 * CHUNK_SIZE


def test_toolchain_md_cids_reproduced() -> None:
    """Literal CIDs from TOOLCHAIN.md (js-ipfs and Kubo 0.22 agreed on them)."""
    small = bytes((i * 7 + 3) % 256 for i in range(100))
    assert compute_cid(small, cid_version=0) == "QmYbU5cmawUDZaDPxvT8ZWAiv6CcUBR45k4quaTWPiwAxk"
    assert compute_cid(small) == "bafkreic2ftncguorzxm526kx4v6awpefejcr6jnwjfcwtn7jioemi3yjqa"
    big = make_content({"kind": "python-random-getrandbits8", "seed": 42, "size": 2 * 1024 * 1024})
    assert compute_cid(big, cid_version=0) == "QmVXrSJxEoqgJaWNuqivftmMUjYc1d5jW2pJ1aqCqYQtec"
    assert compute_cid(big) == "bafybeihxuh7ktmvv7423dzd6txbqbgig2hjisc72y6jre3upqrhxjdrfgm"
    assert (
        compute_cid(big, cid_version=1, raw_leaves=False)
        == "bafybeierid3bg7p3d3mc732vvpzjtfqrin64b7mkttxe53brsbmmuytdya"
    )


def test_well_known_empty_file_cids() -> None:
    assert compute_cid(b"", cid_version=0) == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    assert compute_cid(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_single_chunk_shapes() -> None:
    data = b"x" * CHUNK_SIZE
    raw = build_file(data)
    # Raw-leaves mode: the one raw block is the root, no dag-pb wrapper.
    assert list(raw.blocks) == [raw.cid] and raw.blocks[raw.cid] == data
    v0 = build_file(data, KUBO_DEFAULTS)
    node = decode_pbnode(v0.blocks[v0.cid])
    assert len(v0.blocks) == 1 and node.links == [] and node.data == data
    assert node.filesize == CHUNK_SIZE


def test_multi_level_tree_is_balanced() -> None:
    data = make_content({"kind": "shake256", "seed": "shape", "size": 175 * CHUNK_SIZE + 1})
    imported = build_file(data)
    root = decode_pbnode(imported.blocks[imported.cid])
    assert root.filesize == len(data) and len(root.links) == 2
    full, rest = (decode_pbnode(imported.blocks[str(c)]) for c in root.links)
    assert len(full.links) == 174 and len(rest.links) == 2
    # 176 leaves + 2 inner nodes + root.
    assert len(imported.blocks) == 176 + 3
    assert read_file(imported.cid, lambda cid: imported.blocks[str(cid)]) == data


def test_chunks_are_deduplicated_but_counted() -> None:
    data = b"\0" * (3 * CHUNK_SIZE)
    imported = build_file(data)
    assert len(imported.blocks) == 2  # one distinct leaf, one root linking it three times
    assert read_file(imported.cid, lambda cid: imported.blocks[str(cid)]) == data


def test_read_file_rejects_tampered_block() -> None:
    imported = build_file(b"a" * (CHUNK_SIZE + 10))
    blocks = dict(imported.blocks)
    leaf = next(cid for cid in blocks if cid != imported.cid)
    blocks[leaf] = b"b" + blocks[leaf][1:]
    with pytest.raises(ContentMismatch, match="corrupt"):
        read_file(imported.cid, lambda cid: blocks[str(cid)])


def test_read_file_checks_declared_filesize() -> None:
    leaf = build_file(b"hello", KUBO_DEFAULTS)
    leaf_cid = Cid.parse(leaf.cid)
    lying = encode_pbnode([(leaf_cid, 14)], encode_unixfs_file(None, 6, [5]))
    root = Cid.of_block(lying, DAG_PB, 0)
    blocks = {leaf.cid: leaf.blocks[leaf.cid], str(root): lying}
    with pytest.raises(MalformedDag, match="6 bytes"):
        read_file(root, lambda cid: blocks[str(cid)])


def test_read_file_refuses_directories() -> None:
    directory = encode_pbnode([], b"\x08\x01")
    cid = Cid.of_block(directory, DAG_PB, 1)
    with pytest.raises(InvalidCid, match="directory"):
        read_file(cid, lambda _: directory)


def test_identity_cid_needs_no_block() -> None:
    cid = Cid.parse(str(CID("base32", 1, "raw", ("identity", b"inline"))))
    assert read_file(cid, lambda _: pytest.fail("no block should be fetched")) == b"inline"


def test_settings_validation() -> None:
    assert ImportSettings.for_version(1).raw_leaves
    assert not ImportSettings.for_version(0).raw_leaves
    with pytest.raises(UnsupportedImport):
        ImportSettings.for_version(2)
    with pytest.raises(UnsupportedImport, match="raw leaves"):
        compute_cid(b"x", cid_version=0, raw_leaves=True)


def test_parse_and_canonical_cid() -> None:
    v1 = "bafkreic2ftncguorzxm526kx4v6awpefejcr6jnwjfcwtn7jioemi3yjqa"
    base58 = str(CID.decode(v1).set(base="base58btc"))
    assert canonical_cid(base58) == v1
    with pytest.raises(InvalidCid, match="not a CID"):
        canonical_cid("definitely-not-a-cid")


def _leaf_depths(cid: Cid, blocks: dict[str, bytes], max_links: int, depth: int = 0) -> set[int]:
    if cid.codec == RAW:
        return {depth}
    node = decode_pbnode(blocks[str(cid)])
    if not node.links:
        return {depth}
    assert len(node.links) <= max_links
    return set().union(*(_leaf_depths(c, blocks, max_links, depth + 1) for c in node.links))


@given(
    size=st.integers(min_value=0, max_value=2000),
    raw_leaves=st.booleans(),
    max_links=st.integers(min_value=2, max_value=5),
)
@settings(max_examples=150, deadline=None)
def test_any_size_round_trips_in_a_balanced_tree(
    size: int, raw_leaves: bool, max_links: int
) -> None:
    """Tiny chunks and fan-out make every tree shape reachable in a few bytes."""
    data = bytes((i * 31 + size) % 251 for i in range(size))
    layout = ImportSettings(
        cid_version=1, raw_leaves=raw_leaves, chunk_size=16, max_links=max_links
    )
    imported = build_file(data, layout)
    assert read_file(imported.cid, lambda cid: imported.blocks[str(cid)]) == data
    # Balanced: every leaf at the same depth, no node over the fan-out.
    assert len(_leaf_depths(Cid.parse(imported.cid), imported.blocks, max_links)) == 1


@given(
    block=st.binary(max_size=64),
    codec=st.sampled_from(["raw", "dag-pb"]),
    version=st.sampled_from([0, 1]),
)
def test_fast_cid_agrees_with_multiformats(block: bytes, codec: str, version: int) -> None:
    if version == 0 and codec == "raw":
        version = 1
    reference = CID(
        "base58btc" if version == 0 else "base32",
        version,
        codec,
        ("sha2-256", hashlib.sha256(block).digest()),
    )
    ours = Cid.of_block(block, RAW if codec == "raw" else DAG_PB, version)
    assert str(ours) == str(reference)
    assert bytes(ours) == bytes(reference)
    assert Cid.from_bytes(bytes(reference)) == ours == Cid.parse(str(reference))
    assert ours.matches(block) and not ours.matches(block + b"!")
