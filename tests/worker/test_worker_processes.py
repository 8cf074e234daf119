"""The worker unit end to end: real anvil, Redis, Celery worker processes and listener process.

Amount ranges per test keep job ids apart (job id = ``mint-<amount>``).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time

from worker_harness import VISIBILITY_TIMEOUT, WorkerEnv, wait_for

from insitu.worker import JobState


def _all_jobs(env: WorkerEnv) -> set[str]:
    return {k.decode() for k in env.redis.hkeys("sample:starts")}


def test_every_event_runs_exactly_one_job(worker_env: WorkerEnv) -> None:
    env = worker_env
    amounts = list(range(1000, 1020))
    for amount in amounts:
        env.mint(amount)
    env.wait_states(amounts)
    for amount in amounts:
        record = env.store.get(f"mint-{amount}")
        assert record is not None
        assert (env.starts(amount), env.finishes(amount), record.completions) == (1, 1, 1)
        assert record.result_ref == f"result-mint-{amount}"
        assert record.attempts == 1
    # A little later nothing ran again (no duplicate delivery, no replayed event).
    time.sleep(0.5)
    assert all(env.starts(a) == 1 for a in amounts)


def test_listener_killed_and_restarted_misses_nothing(worker_env: WorkerEnv) -> None:
    env = worker_env
    before = list(range(2000, 2005))
    for amount in before:
        env.mint(amount)
    env.wait_states(before)
    assert env.unit.kill("listener")
    during = list(range(2005, 2015))
    for amount in during:
        env.mint(amount)
    time.sleep(0.3)
    assert all(env.store.get(f"mint-{a}") is None for a in during)
    env.unit.start(["listener"])
    env.wait_states(before + during)
    assert all(env.starts(a) == 1 and env.finishes(a) == 1 for a in before + during)
    assert {f"mint-{a}" for a in before + during} <= _all_jobs(env)


def test_worker_killed_mid_job_completes_once(worker_env: WorkerEnv) -> None:
    env = worker_env
    amount = 3000
    env.mint(amount, {"sleep": 2.0})
    wait_for(lambda: env.starts(amount) == 1, 10, unit=env.unit)
    assert env.unit.kill("celery")
    record = env.store.get(f"mint-{amount}")
    assert record is not None and record.state is JobState.RUNNING
    killed_at = time.monotonic()
    env.unit.start(["celery"])
    env.wait_states([amount], timeout=30)
    record = env.store.get(f"mint-{amount}")
    assert record is not None
    # The body started twice (the kill interrupted the first), finished and was recorded once.
    assert env.starts(amount) == 2
    assert env.finishes(amount) == 1
    assert record.completions == 1
    assert record.attempts == 2
    # Redelivery is bounded by the visibility timeout (3 s) plus the 2 s job.
    assert time.monotonic() - killed_at < 15


# Takes one message from a queue without acknowledging it and dies: what a SIGKILLed consumer
# leaves behind in kombu's ``unacked`` hash. argv: Redis URL, queue.
_ABANDON = """
import os, sys
from kombu import Connection
channel = Connection(sys.argv[1]).channel()
message = channel.basic_get(sys.argv[2], no_ack=False)
print(message.headers["id"] if message is not None else "", flush=True)
os._exit(0)  # no channel close: closing would hand the message back at once
"""


def test_message_abandoned_while_worker_runs_is_redelivered_soon(worker_env: WorkerEnv) -> None:
    env = worker_env
    # Two jobs occupy both pool processes (prefetch 2), so the third stays in the queue. They
    # last long enough for the abandoning subprocess to start and take it, even on a busy machine.
    busy = [3100, 3101]
    for amount in busy:
        env.mint(amount, {"sleep": 6.0})
    wait_for(lambda: all(env.starts(a) == 1 for a in busy), 10, unit=env.unit)
    amount = 3102
    env.mint(amount)
    wait_for(lambda: env.redis.llen(env.config.queue) == 1, 10, unit=env.unit)
    taken = subprocess.run(
        [sys.executable, "-c", _ABANDON, env.config.redis_url, env.config.queue],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert taken.stdout.strip(), f"nothing to take from the queue: {taken.stderr}"
    abandoned_at = time.monotonic()
    assert env.redis.hlen("unacked") >= 1
    env.wait_states([*busy, amount], timeout=30)
    # The running worker started long ago, so only a periodic sweep brings the message back:
    # visibility timeout + ~1 s here, ~100 s with kombu 5.6's own sweep.
    assert time.monotonic() - abandoned_at < VISIBILITY_TIMEOUT + 8
    record = env.store.get(f"mint-{amount}")
    assert record is not None
    assert (record.attempts, record.completions, env.starts(amount)) == (1, 1, 1)


def test_transient_error_is_retried_with_backoff(worker_env: WorkerEnv) -> None:
    env = worker_env
    amount = 4000
    env.mint(amount, {"transient_failures": 2})
    env.wait_states([amount])
    record = env.store.get(f"mint-{amount}")
    assert record is not None
    assert record.attempts == 3 and record.completions == 1
    assert env.starts(amount) == 3 and env.finishes(amount) == 1
    assert record.last_error and "simulated outage" in record.last_error
    starts = [
        json.loads(x)["t"]
        for x in env.redis.lrange("sample:started_at", 0, -1)
        if json.loads(x)["job"] == f"mint-{amount}"
    ]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # backoff_base 0.3 s, doubling, jitter in [½, 1]: ≥ 0.15 s then ≥ 0.3 s.
    assert gaps[0] >= 0.15 and gaps[1] >= 0.3, gaps


def test_transient_errors_exhausted_become_a_dead_letter(worker_env: WorkerEnv) -> None:
    env = worker_env
    amount = 4100
    env.mint(amount, {"transient_failures": 99})
    env.wait_states([amount], (JobState.FAILED,))
    letter = env.store.dead_letters()[f"mint-{amount}"]
    assert letter.reason_code == "retries_exhausted"
    assert letter.attempts == 4 and env.starts(amount) == 4
    assert env.redis.hget("sample:hook", f"mint-{amount}") == b"retries_exhausted"


def test_permanent_error_dead_letters_and_worker_keeps_serving(worker_env: WorkerEnv) -> None:
    env = worker_env
    bad, good = 5000, 5001
    env.mint(bad, {"permanent": "algorithm_not_allowed"})
    env.mint(good)
    env.wait_states([bad], (JobState.FAILED,))
    env.wait_states([good])
    letter = env.store.dead_letter(f"mint-{bad}")
    assert letter is not None
    assert letter.reason_code == "algorithm_not_allowed"
    assert "simulated bad input" in letter.message
    assert letter.hook_error is None
    assert env.redis.hget("sample:hook", f"mint-{bad}") == b"algorithm_not_allowed"
    assert env.starts(bad) == 1 and env.finishes(bad) == 0
    # A duplicate message for a failed job does not run it again.
    env.redis.delete("sample:behaviour:5000")
    from celery import Celery

    sender = Celery(broker=env.config.redis_url)
    sender.send_task(
        "sample.run", kwargs={"job_id": f"mint-{bad}", "payload": {"amount": bad}},
        queue=env.config.queue,
    )  # fmt: skip
    env.mint(5002)
    env.wait_states([5002])
    time.sleep(0.3)
    assert env.starts(bad) == 1


def test_redis_restart_with_queued_jobs(worker_env: WorkerEnv) -> None:
    env = worker_env
    env.unit.stop(["celery"])
    amounts = list(range(6000, 6005))
    for amount in amounts:
        env.mint(amount)
    env.wait_states(amounts, (JobState.QUEUED,))
    # Queued in Redis, no worker: restart Redis (append-only file) and bring the worker back.
    env.stack.restart("redis")
    env.unit.start(["celery"])
    env.wait_states(amounts, timeout=30)
    assert all(env.starts(a) == 1 and env.finishes(a) == 1 for a in amounts)
    # The listener survived the outage and still serves new events.
    env.mint(6005)
    env.wait_states([6005])


def test_anvil_restart_listener_resumes(worker_env: WorkerEnv) -> None:
    env = worker_env
    env.mint(7000)
    env.wait_states([7000])
    height = env.web3.eth.block_number
    env.stack.restart("anvil")
    assert env.web3.eth.block_number >= height, "anvil --state did not keep the blocks"
    amounts = [7001, 7002, 7003]
    for amount in amounts:
        env.mint(amount)
    env.wait_states(amounts, timeout=20)
    assert all(env.starts(a) == 1 for a in [7000, *amounts])
