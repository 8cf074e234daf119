"""Fixtures for the worker tests: a real anvil + Redis, a deployed PaymentToken, a worker unit.

One stack and one worker unit serve the whole session (starting them costs seconds); tests use
disjoint mint amounts, so their job ids never collide, and tests that kill or restart a piece
bring it back before they end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from web3 import HTTPProvider, Web3
from worker_harness import WorkerEnv, deploy_token, write_config

from insitu.config import LocalStackSettings, Settings
from insitu.stack import LocalStack
from insitu.stack.ports import free_port
from insitu.worker import JobStore, WorkerUnit, load_worker_config


@pytest.fixture(scope="session")
def worker_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerEnv]:
    home = tmp_path_factory.mktemp("worker-home")
    settings = Settings(
        home=home, local=LocalStackSettings(anvil_port=free_port(), redis_port=free_port())
    )
    # persist_state: the Redis and anvil restart tests need the queue and the chain to survive.
    stack = LocalStack(settings, persist_state=True)
    endpoints = stack.up()
    unit: WorkerUnit | None = None
    try:
        web3 = Web3(HTTPProvider(endpoints.rpc_url))
        owner = web3.eth.accounts[0]
        token = deploy_token(web3, owner)
        config_path = write_config(
            home / "provider.toml", endpoints.rpc_url, endpoints.redis_url, token.address
        )
        config = load_worker_config(config_path, settings)
        unit = WorkerUnit(config)
        client = redis.Redis.from_url(endpoints.redis_url)
        unit.start()
        yield WorkerEnv(stack, settings, web3, token, owner, client, JobStore(client), config, unit)
    finally:
        if unit is not None:
            unit.stop()
        stack.down()
