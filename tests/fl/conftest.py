"""Fixtures of the federated-session tests: a real anvil + Redis, deployed contracts, three banks.

One stack serves the whole test session (starting it costs seconds). Every test creates its own
session (fresh salt), so tests never share on-chain state beyond the deployment.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fl_harness import PRICE, FLEnv

from insitu.chain import AccessMode, PaymentToken, connect, deploy_all, dev_accounts
from insitu.chain.session import FederatedSession, deploy_session
from insitu.config import LocalStackSettings, Settings
from insitu.demo.fraud import fraud_template
from insitu.federated.data import synthetic_fraud
from insitu.fl.sdk import publish_template
from insitu.market import Marketplace
from insitu.stack import LocalStack
from insitu.stack.ports import free_port
from insitu.storage import open_store


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
