"""A test app module for the worker: PaymentToken mints become jobs that record what they did.

Job ``mint-<amount>`` per ``Transfer`` from the zero address. What a job does is read from Redis
key ``sample:behaviour:<amount>`` (JSON), set by the test before minting:
``{"sleep": s, "transient_failures": n, "permanent": "reason_code"}``. Records, all in Redis:

- ``sample:starts`` / ``sample:finishes`` (hash job id → count): body started / reached its end;
- ``sample:started_at`` (list of JSON): when and in which pid each body started;
- ``sample:hook`` (hash job id → reason code): calls of ``on_permanent_failure``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from web3 import Web3

from insitu.toolchain.artifacts import load_artifact
from insitu.worker import (
    ChainEvent,
    JobContext,
    JobRequest,
    ListenerSpec,
    PermanentJobError,
    Subscription,
    TransientError,
    WorkerConfig,
    job_store,
    job_task,
    make_worker_app,
)

ZERO = "0x0000000000000000000000000000000000000000"
TASK = "sample.run"

app = make_worker_app("insitu-sample")


def record_failure(job_id: str, payload: dict[str, Any], error: PermanentJobError) -> None:
    job_store(app).client.hset("sample:hook", job_id, error.reason_code)


@job_task(
    app,
    name=TASK,
    max_attempts=4,
    backoff_base=0.3,
    backoff_max=2.0,
    on_permanent_failure=record_failure,
)
def run(ctx: JobContext, payload: dict[str, Any]) -> str | None:
    """Record the start, behave as the test asked, record the finish."""
    r = ctx.redis
    r.hincrby("sample:starts", ctx.job_id, 1)
    r.rpush(
        "sample:started_at",
        json.dumps({"job": ctx.job_id, "t": time.time(), "pid": os.getpid(), "a": ctx.attempt}),
    )
    raw = r.get(f"sample:behaviour:{payload['amount']}")
    behaviour: dict[str, Any] = json.loads(raw) if raw else {}
    if behaviour.get("sleep"):
        time.sleep(float(behaviour["sleep"]))
    if ctx.attempt <= int(behaviour.get("transient_failures", 0)):
        raise TransientError("simulated outage of a service the job needs")
    if behaviour.get("permanent"):
        raise PermanentJobError(str(behaviour["permanent"]), "simulated bad input")
    r.hincrby("sample:finishes", ctx.job_id, 1)
    return f"result-{ctx.job_id}"


def listener_spec(config: WorkerConfig, web3: Web3) -> ListenerSpec:
    token = web3.eth.contract(
        address=Web3.to_checksum_address(config.contracts["PaymentToken"]),
        abi=load_artifact("PaymentToken")["abi"],
    )

    def route(event: ChainEvent) -> JobRequest | None:
        if event.args["from"] != ZERO:
            return None
        amount = int(event.args["value"])
        return JobRequest(TASK, f"mint-{amount}", {"amount": amount, "tx": event.tx_hash})

    return ListenerSpec([Subscription(token.address, [token.events.Transfer])], route)
