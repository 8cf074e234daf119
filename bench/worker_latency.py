"""Micro-benchmark of the provider worker infrastructure with a trivial job.

Measures, on a fresh local stack (anvil + Redis) per configuration, with the test app module of
``tests/worker`` (one job per PaymentToken mint, the job body only writes to Redis):

- event → job started latency: one mint at a time, from just before the transaction is sent to
  the moment the job body starts (same machine, same clock), p50/p95;
- throughput: a burst of mints, jobs per minute from the first job start to the last job done;

with 1 and 2 Celery worker processes (prefork). Prints a table and writes
``bench/results/worker.md``. Run: ``.venv/bin/python bench/worker_latency.py [--jobs 200]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis
from web3 import HTTPProvider, Web3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "worker"))

from worker_harness import deploy_token, write_config  # noqa: E402

from insitu.config import LocalStackSettings, Settings  # noqa: E402
from insitu.stack import LocalStack  # noqa: E402
from insitu.stack.ports import free_port  # noqa: E402
from insitu.worker import JobState, JobStore, WorkerUnit, load_worker_config  # noqa: E402

POLL_INTERVAL = 0.25


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _started_at(client: redis.Redis) -> dict[str, float]:
    out: dict[str, float] = {}
    for raw in client.lrange("sample:started_at", 0, -1):
        entry = json.loads(raw)
        out.setdefault(entry["job"], entry["t"])
    return out


def run_config(concurrency: int, latency_samples: int, burst: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="insitu-bench-") as tmp:
        home = Path(tmp)
        settings = Settings(
            home=home, local=LocalStackSettings(anvil_port=free_port(), redis_port=free_port())
        )
        stack = LocalStack(settings)
        endpoints = stack.up()
        unit: WorkerUnit | None = None
        try:
            web3 = Web3(HTTPProvider(endpoints.rpc_url))
            owner = web3.eth.accounts[0]
            token = deploy_token(web3, owner)
            path = write_config(
                home / "provider.toml", endpoints.rpc_url, endpoints.redis_url, token.address,
                concurrency=concurrency, poll_interval=POLL_INTERVAL, visibility_timeout=30,
            )  # fmt: skip
            unit = WorkerUnit(load_worker_config(path, settings))
            unit.start()
            client = redis.Redis.from_url(endpoints.redis_url)
            store = JobStore(client)

            latencies: list[float] = []
            for i in range(latency_samples):
                amount = 1 + i
                sent = time.time()
                token.functions.mint(owner, amount).transact({"from": owner})
                while f"mint-{amount}" not in _started_at(client):
                    time.sleep(0.005)
                latencies.append(_started_at(client)[f"mint-{amount}"] - sent)

            amounts = [100_000 + i for i in range(burst)]
            for amount in amounts:
                token.functions.mint(owner, amount).transact({"from": owner})
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                records = [store.get(f"mint-{a}") for a in amounts]
                if all(r is not None and r.state is JobState.DONE for r in records):
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"burst did not finish:\n{unit.log_tail('celery')}")
            first_start = min(r.started_at or 0 for r in records if r)
            last_done = max(r.finished_at or 0 for r in records if r)
            return {
                "p50": statistics.median(latencies),
                "p95": _percentile(latencies, 0.95),
                "max": max(latencies),
                "jobs_per_min": burst / (last_done - first_start) * 60,
            }
        finally:
            if unit is not None:
                unit.stop()
            stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=40, help="sequential latency samples")
    parser.add_argument("--jobs", type=int, default=200, help="jobs in the throughput burst")
    args = parser.parse_args()
    rows = []
    for concurrency in (1, 2):
        result = run_config(concurrency, args.samples, args.jobs)
        rows.append((concurrency, result))
        print(
            f"{concurrency} worker process(es): event→start p50 {result['p50'] * 1000:.0f} ms, "
            f"p95 {result['p95'] * 1000:.0f} ms, max {result['max'] * 1000:.0f} ms; "
            f"{result['jobs_per_min']:.0f} jobs/min"
        )
    lines = [
        "# Worker infrastructure: event → job started latency and throughput",
        "",
        f"Trivial job (a few Redis writes), PaymentToken mint events on a local anvil, Redis "
        f"broker, listener poll interval {POLL_INTERVAL} s, confirmations 0, Celery prefork. "
        f"{args.samples} sequential events for latency, a burst of {args.jobs} for throughput. "
        f"Machine: {platform.machine()}, Python {platform.python_version()}. "
        "Produced by `bench/worker_latency.py`.",
        "",
        "| worker processes | event → start p50 | p95 | max | jobs/min |",
        "|---|---|---|---|---|",
    ]
    for concurrency, r in rows:
        lines.append(
            f"| {concurrency} | {r['p50'] * 1000:.0f} ms | {r['p95'] * 1000:.0f} ms | "
            f"{r['max'] * 1000:.0f} ms | {r['jobs_per_min']:.0f} |"
        )
    out = ROOT / "bench" / "results" / "worker.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
