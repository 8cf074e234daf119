"""Fixtures of the federated-session tests: a real anvil + Redis, deployed contracts, three banks.

One stack serves the whole test session (starting it costs seconds). Every test creates its own
session (fresh salt), so tests never share on-chain state beyond the deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.chain import AccessMode, PaymentToken, connect, deploy_all, dev_accounts
from insitu.chain.session import FederatedSession, SessionCreation, deploy_session
from insitu.config import LocalStackSettings, Settings
from insitu.demo.fraud import fraud_template
from insitu.federated.data import FederatedDataset, synthetic_fraud
from insitu.fl.documents import SessionConfig
from insitu.fl.participant import Bank, data_from_csv
from insitu.fl.sdk import create_session, publish_template
from insitu.market import Marketplace
from insitu.stack import LocalStack
from insitu.stack.ports import free_port
from insitu.stack.stack import Endpoints
from insitu.storage import ContentStore, open_store

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
            "round_timeout": 20.0,
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


@pytest.fixture(scope="session")
def fl_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FLEnv]:
    home = tmp_path_factory.mktemp("fl-home")
    settings = Settings(
        home=home, local=LocalStackSettings(anvil_port=free_port(), redis_port=free_port())
    )
    stack = LocalStack(settings)
    endpoints = stack.up()
    try:
        w3 = connect(endpoints.rpc_url)
        store = open_store(endpoints.ipfs_url, endpoints.ipfs_store_dir)
        operator, scientist, coordinator, *banks = dev_accounts(6)
        deployment = deploy_all(w3, operator)
        sessions = FederatedSession(w3, deploy_session(w3, operator, deployment.registry))
        market = Marketplace(w3, deployment, store)
        ds = synthetic_fraud(
            n_banks=3, rows_per_bank=3000, validation_rows=3000, test_rows=3000, seed=3
        )
        template = fraud_template(ds)
        template_cid, algo = publish_template(store, template)
        private = home / "private"
        csvs = []
        for name, frame in ds.participants.items():
            (private / name).mkdir(parents=True, mode=0o700)
            path = private / name / "transactions.csv"
            frame.to_csv(path, index=False)
            csvs.append(path)
        validation_csv = private / "validation.csv"
        ds.validation.to_csv(validation_csv, index=False)
        assets = [
            market.publish(
                bank,
                {"name": f"bank {i}", "kind": "dataset", "description": "test transactions"},
                price=PRICE,
                mode=AccessMode.COMPUTE_ONLY,
                algorithms=[algo],
            ).asset_id
            for i, bank in enumerate(banks)
        ]
        yield FLEnv(
            settings=settings,
            endpoints=endpoints,
            w3=w3,
            store=store,
            sessions=sessions,
            token=PaymentToken(w3, deployment.token),
            operator=operator,
            scientist=scientist,
            coordinator=coordinator,
            banks=banks,
            assets=assets,
            data=ds,
            csvs=csvs,
            validation_csv=validation_csv,
            template_cid=template_cid,
            algorithm=algo,
        )
    finally:
        stack.down()
