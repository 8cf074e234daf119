"""Shared values and the environment object of the synth_session tests (imported by name,
so it must not live in conftest.py: several conftest modules share that name)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.chain import PaymentToken
from insitu.config import Settings
from insitu.market import Marketplace
from insitu.stack.stack import Endpoints
from insitu.synth.schema import Schema

PRICE = 2 * 10**18 + 5
POOL = 10**19 + 7
ROWS = 800


@dataclass
class SynthEnv:
    """A deployed marketplace with four providers' datasets, their CSVs and mapping files."""

    settings: Settings
    endpoints: Endpoints
    w3: Web3
    market: Marketplace
    token: PaymentToken
    operator: LocalAccount
    scientist: LocalAccount
    coordinator: LocalAccount
    providers: list[LocalAccount]
    assets: list[bytes]
    csvs: list[Path]
    mappings: list[Path]
    schema: Schema
    validation_csv: Path
    validation_mapping: Path
    template_cid: str
    algorithm: bytes
    start_block: int

    def fund_scientist(self) -> int:
        total = PRICE * len(self.assets) + POOL
        self.token.mint(self.operator, self.scientist.address, total)
        return total
