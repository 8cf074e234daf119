"""Bind an artifact's ABI to a deployed address."""

from __future__ import annotations

from web3 import Web3
from web3.contract import Contract

from insitu.toolchain.artifacts import load_artifact


def bind(w3: Web3, name: str, address: str) -> Contract:
    """The web3 contract object of insitu contract ``name`` at ``address``."""
    abi = load_artifact(name)["abi"]
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
