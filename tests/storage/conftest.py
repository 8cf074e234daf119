"""Fixtures of the storage tests: the test-only js-ipfs node (started once per test session)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from jsipfs_node import NODE_DIR, RunningNode, node_installed, running_node


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A live Kubo-compatible RPC node on free 127.0.0.1 ports, stopped after the session."""
    if not node_installed():
        pytest.skip(
            f"the test IPFS node is not installed: run `npm install` in {NODE_DIR} "
            "(`make test` does it)"
        )
    with running_node(tmp_path_factory.mktemp("jsipfs")) as node:
        yield node
