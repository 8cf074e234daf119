"""Restarting a service mid-run, with and without persisted state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
import requests

from insitu.config import Settings
from insitu.stack import LocalStack, ServiceState
from insitu.stack.process import process_start_ticks

MakeSettings = Callable[..., Settings]
MakeStack = Callable[..., LocalStack]

# The first two accounts of anvil's default mnemonic (DEV_MNEMONIC).
SENDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ONE_ETH = 10**18


def rpc(url: str, method: str, *params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    reply = requests.post(url, json=body, timeout=10).json()
    assert "error" not in reply, reply
    return reply["result"]


def send_one_eth(url: str) -> None:
    tx = {"from": SENDER, "to": RECIPIENT, "value": hex(ONE_ETH)}
    tx_hash = rpc(url, "eth_sendTransaction", tx)
    # anvil answers with the hash before the automined block is sealed: poll for the receipt.
    deadline = time.monotonic() + 5
    while (receipt := rpc(url, "eth_getTransactionReceipt", tx_hash)) is None:
        assert time.monotonic() < deadline, f"no receipt for {tx_hash}"
        time.sleep(0.01)
    assert receipt["status"] == "0x1"


def chain_facts(url: str) -> tuple[int, int, int]:
    """(recipient balance, sender nonce, block number)."""
    return (
        int(rpc(url, "eth_getBalance", RECIPIENT, "latest"), 16),
        int(rpc(url, "eth_getTransactionCount", SENDER, "latest"), 16),
        int(rpc(url, "eth_blockNumber"), 16),
    )


def test_restart_with_persist_state_keeps_the_chain(
    make_settings: MakeSettings, stacks: MakeStack
) -> None:
    stack = stacks(make_settings(), persist_state=True)
    url = stack.up().rpc_url
    initial_balance = chain_facts(url)[0]
    send_one_eth(url)
    send_one_eth(url)
    before = chain_facts(url)
    assert before == (initial_balance + 2 * ONE_ETH, 2, 2)
    old_pid = stack.pid_record("anvil").pid  # type: ignore[union-attr]

    status = stack.restart("anvil")

    assert status.state is ServiceState.RUNNING and status.endpoint == url
    assert status.pid != old_pid and process_start_ticks(old_pid) is None
    assert chain_facts(url) == before
    send_one_eth(url)  # the node keeps working from the restored state
    assert chain_facts(url)[1:] == (3, 3)


def test_restart_without_persist_state_starts_a_fresh_chain(stack: LocalStack) -> None:
    url = stack.up().rpc_url
    send_one_eth(url)
    stack.restart("anvil")
    assert chain_facts(url)[1:] == (0, 0)


def test_restart_after_a_crash_reuses_the_recorded_port(stack: LocalStack) -> None:
    endpoints = stack.up()
    stack.stop_service("redis")
    # Also covers a stale pid file: restart must not need a running process.
    status = stack.restart("redis")
    assert status.endpoint == endpoints.redis_url
    assert redis.Redis.from_url(endpoints.redis_url).ping()


def test_redis_restart_with_persist_state_keeps_data(
    make_settings: MakeSettings, stacks: MakeStack
) -> None:
    stack = stacks(make_settings(), persist_state=True)
    url = stack.up().redis_url
    client = redis.Redis.from_url(url)
    client.rpush("celery", "task-1", "task-2")
    client.close()

    stack.restart("redis")

    client = redis.Redis.from_url(url)
    assert client.lrange("celery", 0, -1) == [b"task-1", b"task-2"]
    client.close()
