"""Helpers of the worker tests: the test environment, deployment, config files, waiting."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from web3 import Web3
from web3.contract import Contract

from insitu.config import Settings
from insitu.stack import LocalStack
from insitu.toolchain.artifacts import load_artifact
from insitu.worker import JobState, JobStore, WorkerConfig, WorkerUnit

HERE = Path(__file__).resolve().parent
VISIBILITY_TIMEOUT = 3


@dataclass
class WorkerEnv:
    """Everything a worker test touches."""

    stack: LocalStack
    settings: Settings
    web3: Web3
    token: Contract
    owner: str
    redis: redis.Redis
    store: JobStore
    config: WorkerConfig
    unit: WorkerUnit

    def mint(self, amount: int, behaviour: dict[str, Any] | None = None) -> None:
        if behaviour is not None:
            self.redis.set(f"sample:behaviour:{amount}", json.dumps(behaviour))
        self.token.functions.mint(self.owner, amount).transact({"from": self.owner})

    def starts(self, amount: int) -> int:
        return int(self.redis.hget("sample:starts", f"mint-{amount}") or 0)

    def finishes(self, amount: int) -> int:
        return int(self.redis.hget("sample:finishes", f"mint-{amount}") or 0)

    def wait_states(
        self, amounts: list[int], states: tuple[JobState, ...] = (JobState.DONE,), timeout=30.0
    ) -> None:
        wait_for(
            lambda: all(
                (rec := self.store.get(f"mint-{a}")) is not None and rec.state in states
                for a in amounts
            ),
            timeout,
            lambda: {a: self.store.get(f"mint-{a}") for a in amounts},
            self.unit,
        )


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    describe: Callable[[], object] | None = None,
    unit: WorkerUnit | None = None,
) -> None:
    """Poll ``condition`` every 50 ms; on timeout fail with its description and the logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    logs = ""
    if unit is not None:
        logs = "\n".join(f"--- {p} log ---\n{unit.log_tail(p)}" for p in ("listener", "celery"))
    state = describe() if describe else ""
    pytest.fail(f"condition not met within {timeout} s: {state}\n{logs}")


def deploy_token(web3: Web3, owner: str) -> Contract:
    artifact = load_artifact("PaymentToken")
    factory = web3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor("Test Pay", "TPAY", owner).transact({"from": owner})
    address = web3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return web3.eth.contract(address=address, abi=artifact["abi"])


def write_config(path: Path, endpoints_rpc: str, redis_url: str, token: str, **extra: Any) -> Path:
    values: dict[str, Any] = {
        "organisation": "testorg",
        "app": "worker_sample_app",
        "pythonpath": [str(HERE)],
        "rpc_url": endpoints_rpc,
        "redis_url": redis_url,
        "poll_interval": 0.1,
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "concurrency": 2,
        "pool": "prefork",
        **extra,
    }
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    lines += ["", "[contracts]", f'PaymentToken = "{token}"']
    path.write_text("\n".join(lines) + "\n")
    return path
