"""LocalStack with real anvil and Redis processes."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable

import pytest
import redis
import requests

from insitu.config import Settings
from insitu.errors import StackError
from insitu.stack import Endpoints, LocalStack, ServiceState, format_status
from insitu.stack.ports import free_port
from insitu.stack.process import process_start_ticks

MakeSettings = Callable[..., Settings]
MakeStack = Callable[..., LocalStack]


def chain_id(url: str) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    return int(requests.post(url, json=body, timeout=5).json()["result"], 16)


def pids(stack: LocalStack) -> dict[str, int]:
    return {s.name: s.pid for s in stack.status() if s.pid is not None}


def alive(pid: int) -> bool:
    return process_start_ticks(pid) is not None


def test_up_starts_anvil_and_redis_that_answer(stack: LocalStack) -> None:
    endpoints = stack.up()

    assert endpoints.started == ["anvil", "redis"]
    assert endpoints.reused == endpoints.external == []
    assert chain_id(endpoints.rpc_url) == stack.settings.local.chain_id
    client = redis.Redis.from_url(endpoints.redis_url)
    client.set("k", "v")
    assert client.get("k") == b"v"
    client.close()
    assert endpoints.ipfs_url is None
    assert endpoints.ipfs_store_dir == stack.settings.ipfs_store_dir
    assert endpoints.ipfs_store_dir.is_dir()
    states = {s.name: (s.state, s.external) for s in stack.status()}
    assert states == {
        "anvil": (ServiceState.RUNNING, False),
        "redis": (ServiceState.RUNNING, False),
        "ipfs": (ServiceState.EMBEDDED, False),
    }


def test_second_up_reuses_the_same_processes(stack: LocalStack, stacks: MakeStack) -> None:
    first = stack.up()
    before = pids(stack)

    # A second LocalStack on the same home stands for a second `insitu stack up` in another shell.
    again = stacks(stack.settings).up()

    assert again.reused == ["anvil", "redis"] and again.started == []
    assert (again.rpc_url, again.redis_url) == (first.rpc_url, first.redis_url)
    assert pids(stack) == before


def test_down_stops_both_and_leaves_no_process(stack: LocalStack) -> None:
    stack.up()
    running = pids(stack)
    assert set(running) == {"anvil", "redis"}

    assert sorted(stack.down()) == ["anvil", "redis"]

    assert not any(alive(pid) for pid in running.values())
    assert not list(stack.settings.state_dir.glob("*.pid"))
    assert {s.state for s in stack.status()} == {ServiceState.STOPPED, ServiceState.EMBEDDED}
    assert stack.down() == []


def test_context_manager_stops_only_what_it_started(
    make_settings: MakeSettings, stacks: MakeStack
) -> None:
    settings = make_settings()
    with stacks(settings) as endpoints:
        assert isinstance(endpoints, Endpoints)
        started = pids(stacks(settings))
    assert not any(alive(pid) for pid in started.values())

    outer = stacks(settings)
    outer.up()
    kept = pids(outer)
    with stacks(settings) as endpoints:
        assert endpoints.reused == ["anvil", "redis"]
    assert all(alive(pid) for pid in kept.values())


def test_sigkilled_service_is_reported_stale_and_replaced_by_up(stack: LocalStack) -> None:
    stack.up()
    old = pids(stack)
    os.kill(old["anvil"], signal.SIGKILL)
    # The pid file survives the crash; status must not take it for a running node.
    deadline = time.monotonic() + 5
    while alive(old["anvil"]):
        assert time.monotonic() < deadline, "SIGKILL did not end anvil"
        time.sleep(0.01)

    states = {s.name: s.state for s in stack.status()}
    assert states["anvil"] is ServiceState.STALE
    assert states["redis"] is ServiceState.RUNNING

    endpoints = stack.up()
    assert endpoints.started == ["anvil"] and endpoints.reused == ["redis"]
    new = pids(stack)
    assert new["anvil"] != old["anvil"] and new["redis"] == old["redis"]
    assert chain_id(endpoints.rpc_url) == stack.settings.local.chain_id


def test_external_redis_is_used_not_started_nor_stopped(
    make_settings: MakeSettings, stacks: MakeStack
) -> None:
    provider = stacks(make_settings())
    redis_url = provider.up().redis_url
    redis_pid = pids(provider)["redis"]

    consumer = stacks(make_settings(redis_url=redis_url))
    endpoints = consumer.up()

    assert endpoints.started == ["anvil"]
    assert endpoints.external == ["redis"]
    assert endpoints.redis_url == redis_url
    rows = {s.name: s for s in consumer.status()}
    assert (rows["redis"].state, rows["redis"].external) == (ServiceState.RUNNING, True)
    assert consumer.down() == ["anvil"]
    assert alive(redis_pid)
    with pytest.raises(StackError, match="external"):
        consumer.restart("redis")


def test_unreachable_external_rpc_is_a_clear_error(
    make_settings: MakeSettings, stacks: MakeStack
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    stack = stacks(make_settings(rpc_url=url))
    with pytest.raises(StackError, match=r"rpc_url=.*does not answer eth_chainId"):
        stack.up()
    assert {s.name: s.state for s in stack.status()}["anvil"] is ServiceState.UNREACHABLE


def test_failed_up_stops_what_it_had_started(
    make_settings: MakeSettings, stacks: MakeStack
) -> None:
    stack = stacks(make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    with pytest.raises(StackError, match=r"redis_url=.*does not answer PING"):
        stack.up()
    # anvil came up before the Redis check failed; it must not be left running.
    assert not list(stack.settings.state_dir.glob("*.pid"))
    assert {s.name: s.state for s in stack.status()}["anvil"] is ServiceState.STOPPED


def test_port_taken_by_a_foreign_process_names_port_and_setting(stack: LocalStack) -> None:
    port = stack.settings.local.anvil_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(StackError, match=rf"port {port} .*already in use") as info:
            stack.up()
    assert "anvil_port" in str(info.value)
    assert not list(stack.settings.state_dir.glob("*.pid"))


def test_reuse_refuses_a_node_started_with_other_options(stack: LocalStack) -> None:
    stack.up()
    changed = stack.settings.with_overrides(
        local=stack.settings.local.__class__(
            anvil_port=stack.settings.local.anvil_port,
            redis_port=stack.settings.local.redis_port,
            chain_id=1337,
        )
    )
    with pytest.raises(StackError, match="other options"):
        LocalStack(changed).up()


def test_missing_anvil_says_how_to_get_it(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSITU_ANVIL", "/nonexistent/anvil")
    with pytest.raises(StackError, match="INSITU_ANVIL"):
        stack.up()


def test_format_status_is_an_aligned_table(stack: LocalStack) -> None:
    stack.up()
    text = format_status(stack.status())
    lines = text.splitlines()
    assert lines[0].split() == ["service", "state", "where", "pid", "endpoint"]
    assert lines[1].split()[:3] == ["anvil", "running", "local"]
    assert len({line.index(line.split()[4]) for line in lines}) == 1
