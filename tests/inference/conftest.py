"""Fixtures of the private-inference marketplace tests: a real anvil + Redis, the deployed
contracts, a published inference model, the model owner's and the dealer's worker processes.

The offer accepts two dealers: the running one and an "idle" one whose queue no worker serves
(a dealer that is down), so a test can pick either.

One stack and one worker unit serve the whole session (starting them costs seconds); every test
opens its own agreements, so tests share nothing on-chain beyond the deployment and the assets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from inference_harness import (
    DEALER_ORG,
    DEALER_TIMEOUT,
    MAX_ROWS,
    PEER_TIMEOUT,
    PRICE_PER_ROW,
    InferenceEnv,
)
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from insitu.chain import connect, deploy_all, dev_accounts, save_deployment
from insitu.config import LocalStackSettings, Settings
from insitu.inference import publish_model
from insitu.inference.launch import (
    owner_workers,
    write_dealer_config,
    write_owner_config,
)
from insitu.market import Marketplace
from insitu.market.deployments import deployment_path
from insitu.stack import LocalStack
from insitu.stack.ports import free_port
from insitu.storage import open_store
from insitu.worker import JobStore, queue_name


@pytest.fixture(scope="session")
def inference_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceEnv]:
    home = tmp_path_factory.mktemp("inference-home")
    settings = Settings(
        home=home, local=LocalStackSettings(anvil_port=free_port(), redis_port=free_port())
    )
    stack = LocalStack(settings)
    endpoints = stack.up()
    workers = None
    try:
        w3 = connect(endpoints.rpc_url)
        operator, owner, buyer, dealer, idle_dealer = dev_accounts(5)
        deployment = deploy_all(w3, operator)
        save_deployment(deployment, deployment_path(settings, deployment.chain_id))
        market = Marketplace(w3, deployment, open_store(None, endpoints.ipfs_store_dir))
        market.token.mint(operator, buyer.address, 10**24)
        x, y = load_breast_cancer(return_X_y=True)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, y)
        publication, offer = publish_model(
            market,
            owner,
            model,
            name="tumour classifier",
            description="breast cancer: malignant or benign",
            price_per_row=PRICE_PER_ROW,
            max_rows=MAX_ROWS,
            dealers=[dealer.address, idle_dealer.address],
        )
        dealer_config = write_dealer_config(
            home / "workers-config",
            DEALER_ORG,
            dealer,
            rpc_url=endpoints.rpc_url,
            redis_url=endpoints.redis_url,
            ipfs_url=None,
            escrow=deployment.escrow,
        )
        config = write_owner_config(
            home / "workers-config",
            "clinic-ai",
            owner,
            {publication.asset_id: model},
            rpc_url=endpoints.rpc_url,
            redis_url=endpoints.redis_url,
            ipfs_url=None,
            escrow=deployment.escrow,
            dealers={
                dealer.address: queue_name(DEALER_ORG),
                idle_dealer.address: queue_name("idle-dealer"),
            },
            start_block=deployment.block_number,
            peer_timeout=PEER_TIMEOUT,
            dealer_timeout=DEALER_TIMEOUT,
        )
        workers = owner_workers([config, dealer_config], home)
        workers.start()
        yield InferenceEnv(
            market=market,
            owner=owner,
            buyer=buyer,
            operator=operator,
            dealer=dealer,
            idle_dealer=idle_dealer,
            asset=publication.asset_id,
            offer=offer,
            model=model,
            rows=x,
            jobs=JobStore(redis.Redis.from_url(endpoints.redis_url)),
            home=home,
            rpc_url=endpoints.rpc_url,
            redis_url=endpoints.redis_url,
        )
    finally:
        if workers is not None:
            print(workers.logs(40))
            workers.stop()
        stack.down()
