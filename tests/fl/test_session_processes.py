"""One whole session on real processes: three banks' and the coordinator's Celery workers and
listeners (eight processes), event-driven from creation to finalization, then claims."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from fl_harness import POOL, PRICE, FLEnv

from insitu.chain.session import SessionStatus
from insitu.federated.valuation import ValuationReport
from insitu.fl.documents import fetch
from insitu.fl.launch import Federation, WorkerSpec, write_worker_config
from insitu.fl.sdk import claim_all, wait_accepted, wait_status


def test_session_runs_on_worker_processes(fl_env: FLEnv, tmp_path) -> None:
    env = fl_env
    ep = env.endpoints
    specs = [
        WorkerSpec(f"t-bank{i}", "participant", env.banks[i], {"0x" + a.hex(): env.csvs[i]}, {})
        for i, a in enumerate(env.assets)
    ]
    specs.append(
        WorkerSpec(
            "t-coordinator",
            "coordinator",
            env.coordinator,
            {},
            {"validation": str(env.validation_csv)},
        )
    )
    start = int(env.w3.eth.block_number)
    paths = [
        write_worker_config(
            tmp_path, s, rpc_url=ep.rpc_url, redis_url=ep.redis_url, ipfs_url=ep.ipfs_url,
            session_contract=env.sessions.address, start_block=start, visibility_timeout=20,
        )
        for s in specs
    ]  # fmt: skip
    federation = Federation(paths, env.settings)
    federation.start()
    try:
        config = env.config(rounds=2, dp={"clip_norm": 5.0, "noise_multiplier": 0.5})
        sid = env.create(config).session_id
        wait_accepted(env.sessions, sid, timeout=180)  # the banks' workers accept by themselves
        env.sessions.start(env.scientist, sid)
        try:
            wait_status(env.sessions, sid, {SessionStatus.FINALIZED}, timeout=300)
        except Exception:
            pytest.fail(f"session did not finalize:\n{federation.logs(25)}")
    finally:
        federation.stop()
    assert all(u.status()[0].pid is None and u.status()[1].pid is None for u in federation.units)

    aggregates = env.sessions.events("AggregateCommitted", sid)
    assert [a["args"]["includedMask"] for a in aggregates] == [0b111] * 3
    final = env.sessions.finalization(sid)
    report_bytes = fetch(env.store, final.report_cid)
    assert keccak(report_bytes) == final.report_hash
    report = ValuationReport.from_json(report_bytes.decode())
    assert report.method == "exact" and report.settings["dp_epsilon"] > 0
    assert final.model_cid == aggregates[-1]["args"]["cid"]

    window = env.sessions.get(sid).challenge_window
    env.w3.provider.make_request("evm_increaseTime", [window + 1])
    env.w3.provider.make_request("evm_mine", [])
    claim_all(env.sessions, env.scientist, sid)
    assert env.sessions.get(sid).held == 0
    paid = sum(
        log["args"]["price"] + log["args"]["reward"]
        for log in env.sessions.events("RewardClaimed", sid)
    )
    remainder = env.sessions.events("RemainderClaimed", sid)[0]["args"]["amount"]
    assert paid + remainder == 3 * PRICE + POOL
