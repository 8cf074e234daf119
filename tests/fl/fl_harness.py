"""Shared values and the environment object of the fl tests (imported by name,
so it must not live in conftest.py: several conftest modules share that name)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.chain import PaymentToken
from insitu.chain.session import FederatedSession, SessionCreation
from insitu.config import Settings
from insitu.federated.data import FederatedDataset
from insitu.fl.documents import SessionConfig
from insitu.fl.participant import Bank, data_from_csv
from insitu.fl.sdk import create_session
from insitu.stack.stack import Endpoints
from insitu.storage import ContentStore

PRICE = 3 * 10**18 + 7
POOL = 10**19 + 3


@dataclass
class FLEnv:
    """A deployed marketplace with three banks' compute-only datasets and their private CSVs."""

    settings: Settings
    endpoints: Endpoints
    w3: Web3
    store: ContentStore
    sessions: FederatedSession
    token: PaymentToken
    operator: LocalAccount
    scientist: LocalAccount
    coordinator: LocalAccount
    banks: list[LocalAccount]
    assets: list[bytes]
    data: FederatedDataset
    csvs: list[Path]
    validation_csv: Path
    template_cid: str
    algorithm: bytes

    def bank(self, i: int) -> Bank:
        return Bank(
            self.sessions,
            self.store,
            self.banks[i],
            data_from_csv({self.assets[i]: str(self.csvs[i])}),
            frozenset({self.assets[i]}),
        )

    def config(self, **changes: object) -> SessionConfig:
        values: dict[str, object] = {
            "template_cid": self.template_cid,
            "template_hash": "0x" + self.algorithm.hex(),
            "features": self.data.features,
            "target": self.data.target,
            "classes": [0, 1],
            "rounds": 2,
            "stats_round": True,
            "round_timeout": 60.0,
            "min_participants": 2,
        }
        values.update(changes)
        return SessionConfig(**values)  # type: ignore[arg-type]

    def create(self, config: SessionConfig) -> SessionCreation:
        total = PRICE * len(self.assets) + POOL
        self.token.mint(self.operator, self.scientist.address, total)
        self.token.approve(self.scientist, self.sessions.address, total)
        return create_session(
            self.sessions,
            self.store,
            self.scientist,
            self.assets,
            config,
            reward_pool=POOL,
            coordinator=self.coordinator.address,
            token=self.token.address,
        )
