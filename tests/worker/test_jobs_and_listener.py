"""JobStore and EventListener in-process, against the real Redis and anvil of the module stack."""

from __future__ import annotations

import time
import uuid

import pytest
from worker_harness import WorkerEnv

from insitu.worker import ChainEvent, EventListener, JobState, JobStore, Subscription


def _job() -> str:
    return f"unit-{uuid.uuid4().hex}"


def test_claim_is_exclusive_until_released(worker_env: WorkerEnv) -> None:
    store = JobStore(worker_env.redis, prefix=f"t{uuid.uuid4().hex}")
    job = _job()
    first = store.claim(job, ttl=5)
    assert first is not None
    assert store.claim(job, ttl=5) is None
    other = store.claim(job, ttl=5, token="someone-else")
    assert other is None
    assert store.begin_attempt(first, "k") == 1
    assert store.release(first)
    second = store.claim(job, ttl=5)
    assert second is not None and second.token != first.token
    # The first owner can neither extend, complete nor release the new owner's lock.
    assert not store.extend(first)
    assert not store.complete(first, "x")
    assert not store.release(first)
    assert store.complete(second, "ref")
    record = store.get(job)
    assert record is not None
    assert (record.state, record.completions, record.result_ref) == (JobState.DONE, 1, "ref")


def test_lock_expires_without_heartbeat(worker_env: WorkerEnv) -> None:
    store = JobStore(worker_env.redis, prefix=f"t{uuid.uuid4().hex}")
    job = _job()
    assert store.claim(job, ttl=0.2) is not None
    assert 0 < store.lock_ttl(job) <= 0.2
    time.sleep(0.3)
    assert store.lock_ttl(job) == 0
    assert store.claim(job, ttl=1) is not None


def test_done_job_is_never_restarted_or_completed_twice(worker_env: WorkerEnv) -> None:
    store = JobStore(worker_env.redis, prefix=f"t{uuid.uuid4().hex}")
    job = _job()
    store.mark_queued(job, "k")
    claim = store.claim(job, ttl=5)
    assert claim is not None and store.begin_attempt(claim, "k") == 1
    assert store.complete(claim, "ref")
    again = store.claim(job, ttl=5)
    assert again is not None
    assert store.begin_attempt(again, "k") == -1
    assert not store.complete(again, "other")
    assert not store.fail(job, "late", "too late", claim=again)
    record = store.get(job)
    assert record is not None and record.completions == 1 and record.result_ref == "ref"
    assert store.mark_queued(job, "k").state is JobState.DONE


def test_failure_is_dead_lettered_once(worker_env: WorkerEnv) -> None:
    store = JobStore(worker_env.redis, prefix=f"t{uuid.uuid4().hex}")
    job = _job()
    claim = store.claim(job, ttl=5)
    assert claim is not None and store.begin_attempt(claim, "compute") == 1
    assert store.fail(job, "bad_params", "n_estimators must be > 0", claim=claim)
    assert not store.fail(job, "bad_params", "again")
    letters = store.dead_letters()
    assert list(letters) == [job]
    assert letters[job].reason_code == "bad_params"
    assert letters[job].kind == "compute" and letters[job].attempts == 1
    store.note_hook_error(job, "RPC down")
    letter = store.dead_letter(job)
    assert letter is not None and letter.hook_error == "RPC down"
    assert store.lock_ttl(job) == 0


class _Crash(Exception):
    pass


def test_listener_replays_after_a_crash_without_duplicates(worker_env: WorkerEnv) -> None:
    env = worker_env
    amounts = list(range(9000, 9006))
    start = env.web3.eth.block_number + 1
    for amount in amounts:
        env.mint(amount)
    sub = Subscription(env.token.address, [env.token.events.Transfer])
    seen: list[ChainEvent] = []

    def crash_on_fourth(event: ChainEvent) -> None:
        if len(seen) == 3:
            raise _Crash
        seen.append(event)

    name = f"unit-{uuid.uuid4().hex}"
    # A range of 2 blocks per poll exercises the bounded ranges and the checkpoint between them.
    kwargs = {"name": name, "start_block": start, "max_block_range": 2, "poll_interval": 0.01}
    listener = EventListener(env.web3, [sub], crash_on_fourth, env.redis, **kwargs)
    assert listener.poll_once() == (2, False)
    assert listener.checkpoint() == start + 1
    with pytest.raises(_Crash):
        listener.poll_once()
    # The crashed range was not checkpointed; its first event was handled and marked.
    assert listener.checkpoint() == start + 1

    restarted = EventListener(env.web3, [sub], seen.append, env.redis, **kwargs)
    while restarted.poll_once()[1] is False:
        pass
    assert [e.args["value"] for e in seen] == amounts
    assert len({e.key for e in seen}) == len(amounts)
    assert restarted.checkpoint() == env.web3.eth.block_number
    assert seen[0].name == "Transfer" and seen[0].address == env.token.address
    assert seen[0].tx_hash.startswith("0x") and len(seen[0].tx_hash) == 66


def test_listener_waits_for_confirmations(worker_env: WorkerEnv) -> None:
    env = worker_env
    start = env.web3.eth.block_number + 1
    env.mint(9100)
    seen: list[ChainEvent] = []
    sub = Subscription(env.token.address, [env.token.events.Transfer])
    listener = EventListener(
        env.web3, [sub], seen.append, env.redis,
        name=f"unit-{uuid.uuid4().hex}", start_block=start, confirmations=2,
    )  # fmt: skip
    assert listener.poll_once() == (0, True) and not seen
    env.web3.provider.make_request("anvil_mine", [2])
    listener.poll_once()
    assert [e.args["value"] for e in seen] == [9100]
