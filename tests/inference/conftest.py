"""Fixtures of the private-inference marketplace tests: a real anvil + Redis, the deployed
contracts, two published inference models and the model owner's worker processes.

One stack and one worker unit serve the whole session (starting them costs seconds); every test
opens its own agreements, so tests share nothing on-chain beyond the deployment and the assets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import redis
from eth_account.signers.local import LocalAccount
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from insitu.chain import connect, deploy_all, dev_accounts
from insitu.config import LocalStackSettings, Settings
from insitu.inference import InferenceOffer, publish_model
from insitu.inference.launch import owner_workers, write_owner_config
from insitu.market import Marketplace
from insitu.stack import LocalStack
from insitu.stack.ports import free_port
from insitu.storage import open_store
from insitu.worker import JobRecord, JobStore

PRICE_PER_ROW = 10**15 + 1
MAX_ROWS = 200
PEER_TIMEOUT = 3.0


@dataclass
class InferenceEnv:
    """The marketplace, the owner's model asset and worker, and a funded buyer."""

    market: Marketplace
    owner: LocalAccount
    buyer: LocalAccount
    operator: LocalAccount
    asset: bytes
    offer: InferenceOffer
    model: object
    rows: NDArray[np.float64]
    jobs: JobStore

    def wait_job(self, agreement: bytes, timeout: float = 30.0) -> JobRecord:
        """The owner worker's job for ``agreement`` once it has finished."""
        job_id = f"inference:0x{agreement.hex()}"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            record = self.jobs.get(job_id)
            if record is not None and record.state.terminal:
                return record
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish within {timeout} s")

    def travel(self, seconds: int) -> None:
        w3 = self.market.w3
        w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


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
        operator, owner, buyer = dev_accounts(3)
        deployment = deploy_all(w3, operator)
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
            start_block=deployment.block_number,
            peer_timeout=PEER_TIMEOUT,
        )
        workers = owner_workers([config], home)
        workers.start()
        yield InferenceEnv(
            market=market,
            owner=owner,
            buyer=buyer,
            operator=operator,
            asset=publication.asset_id,
            offer=offer,
            model=model,
            rows=x,
            jobs=JobStore(redis.Redis.from_url(endpoints.redis_url)),
        )
    finally:
        if workers is not None:
            print(workers.logs(40))
            workers.stop()
        stack.down()
