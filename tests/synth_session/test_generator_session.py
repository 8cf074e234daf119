"""A whole generator session on real processes: four providers' and the coordinator's Celery
workers and listeners (ten processes), event-driven from creation to finalization, then sampling,
claims and a canary scan of everything published."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eth_utils import keccak
from synth_session_data import CANARY_AMOUNTS, CANARY_CENTS, CANARY_TEMP, cents_mapping
from synth_session_harness import POOL, PRICE, SynthEnv

from insitu.chain.session import SessionStatus, payouts
from insitu.compute.canary import find_canaries
from insitu.fl.launch import Federation
from insitu.fl.sdk import claim_all, wait_accepted, wait_status
from insitu.synth.contribution import Contribution
from insitu.synthsession.combiner import Combiner
from insitu.synthsession.documents import GeneratorConfig, GeneratorDoc, fetch
from insitu.synthsession.launch import SynthWorkerSpec, write_synth_worker_config
from insitu.synthsession.provider import Outcome, Provider, ProviderAsset, contribute
from insitu.synthsession.sdk import (
    create_generator_session,
    generator_session_status,
    request_synthetic_sample,
)

EPSILON = 8.0
FLIPPED = 3
#: A fixed salt fixes the session id, hence the providers' DP noise (seeded from key, session
#: and slot): with fixed data and the deterministic combiner, the verdicts are reproducible.
SALT = keccak(b"insitu-synth-session-test")


def _provider_txs(env: SynthEnv) -> list[bytes]:
    """Calldata of every transaction the providers sent since the deployment."""
    senders = {p.address for p in env.providers}
    out = []
    for number in range(env.start_block, int(env.w3.eth.block_number) + 1):
        for tx in env.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] in senders:
                out.append(bytes(tx["input"]))
    return out


def _published_blocks(env: SynthEnv) -> list[tuple[str, bytes]]:
    root = Path(env.endpoints.ipfs_store_dir)
    return [(str(p), p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def test_generator_session_on_worker_processes(synth_env: SynthEnv, tmp_path: Path) -> None:
    env = synth_env
    ep = env.endpoints
    specs = [
        SynthWorkerSpec(
            f"synth-provider{i}",
            "provider",
            p,
            {"0x" + env.assets[i].hex(): (env.csvs[i], env.mappings[i])},
        )
        for i, p in enumerate(env.providers)
    ]
    specs.append(
        SynthWorkerSpec(
            "synth-coordinator",
            "coordinator",
            env.coordinator,
            options={
                "validation": str(env.validation_csv),
                "validation_mapping": str(env.validation_mapping),
            },
        )
    )
    start = int(env.w3.eth.block_number)
    paths = [
        write_synth_worker_config(
            tmp_path, s, rpc_url=ep.rpc_url, redis_url=ep.redis_url, ipfs_url=ep.ipfs_url,
            session_contract=env.market.sessions.address, start_block=start,
            visibility_timeout=30,
        )
        for s in specs
    ]  # fmt: skip
    sessions = env.market.sessions
    escrow = env.fund_scientist()
    config = GeneratorConfig(
        env.template_cid, "0x" + env.algorithm.hex(), epsilon=EPSILON, n_synthetic=3000,
        round_timeout=120.0,
    )  # fmt: skip
    federation = Federation(paths, env.settings)
    federation.start()
    try:
        created = create_generator_session(
            env.market, env.scientist, env.assets, config, reward_pool=POOL,
            coordinator=env.coordinator.address, salt=SALT,
        )  # fmt: skip
        sid = created.session_id
        try:
            wait_accepted(sessions, sid, timeout=180)  # the providers' workers accept
            sessions.start(env.scientist, sid)
            wait_status(sessions, sid, {SessionStatus.FINALIZED}, timeout=300)
        except Exception as exc:
            pytest.fail(f"session did not finalize ({exc!r}):\n{federation.logs(40)}")
    finally:
        federation.stop()
    assert all(u.status()[0].pid is None and u.status()[1].pid is None for u in federation.units)
    assert escrow == 4 * PRICE + POOL

    # On-chain: four contributions, one generator, scores; the flipped provider scores 0.
    assert sorted(sessions.get(sid).committed) == [0, 1, 2, 3]
    final = sessions.finalization(sid)
    assert final.scores[FLIPPED] == 0
    assert all(final.scores[i] > 0 for i in range(3)), final.scores
    aggregate = sessions.events("AggregateCommitted", sid)[0]["args"]
    assert (final.model_cid, final.model_hash) == (aggregate["cid"], aggregate["aggregateHash"])
    doc = GeneratorDoc.from_bytes(fetch(env.market.store, final.model_cid, final.model_hash))
    assert doc.accepted == [0, 1, 2] and doc.included == [0, 1, 2, 3]
    assert doc.contributions[FLIPPED]["accepted"] is False
    assert doc.contributions[FLIPPED]["metric_after"] < doc.contributions[FLIPPED]["metric_before"]
    report = json.loads(fetch(env.market.store, final.report_cid, final.report_hash))
    assert [p["score"] for p in report["participants"]] == list(final.scores)
    for p in report["participants"]:
        assert 0 < p["spent_epsilon"] <= EPSILON and p["delta"] == config.delta
    for i in range(3):
        gain = report["participants"][i]["gain"]
        assert final.scores[i] == max(1, round(gain * 1_000_000))
    status = generator_session_status(env.market, sid)
    assert status["status"] == "FINALIZED" and status["final_metric"] > 0.8

    # Each contribution on IPFS is what was committed, labelled for its session and slot.
    for log in sessions.events("UpdateCommitted", sid):
        a = log["args"]
        c = Contribution.from_json(fetch(env.market.store, a["cid"], a["updateHash"]))
        assert c.participant == f"0x{sid.hex()}:{a['index']}"

    # A participant samples in its own encoding (cents, °F, codes, 'F'/'N').
    local = request_synthetic_sample(env.market, sid, 2000, cents_mapping(), seed=1)
    assert list(local.columns) == cents_mapping().local_names
    assert local["amt_cents"].dtype == np.int64
    assert set(local["mcc"]) <= {5411, 4511, 5732, 9999}
    assert set(local["is_fraud"]) == {"N", "F"}

    # Nothing published holds a raw row: every IPFS block and the providers' calldata.
    canaries = [*CANARY_AMOUNTS, CANARY_TEMP, CANARY_CENTS]
    blobs = _published_blocks(env) + [(f"tx {i}", b) for i, b in enumerate(_provider_txs(env))]
    assert len(blobs) > 10
    hits = [h for name, blob in blobs for h in find_canaries(blob, canaries, source=name)]
    assert hits == []

    # Re-deliveries change nothing.
    bank = Provider(
        sessions, env.market.store, env.providers[0],
        {env.assets[0]: ProviderAsset(env.csvs[0], env.mappings[0])},
    )  # fmt: skip
    assert contribute(bank, sid) == {0: Outcome.NOT_OPEN}
    combiner = Combiner(sessions, env.market.store, env.coordinator, validation=None)  # type: ignore[arg-type]
    assert combiner.run(sid, 0.0) == "already"

    # Claims after the challenge window: prices to all four, the pool to the accepted three.
    window = sessions.get(sid).challenge_window
    env.w3.provider.make_request("evm_increaseTime", [window + 1])
    env.w3.provider.make_request("evm_mine", [])
    claim_all(sessions, env.scientist, sid)
    assert sessions.get(sid).held == 0
    paid = {
        int(log["args"]["index"]): log["args"]["price"] + log["args"]["reward"]
        for log in sessions.events("RewardClaimed", sid)
    }
    remainder = sessions.events("RemainderClaimed", sid)[0]["args"]["amount"]
    assert sum(paid.values()) + remainder == escrow
    assert paid[FLIPPED] == PRICE == min(paid.values())
    expected, _ = payouts(sessions.participants(sid), final.scores, [0, 1, 2, 3], POOL)
    assert [paid[i] for i in range(4)] == expected
    before = env.token.balance_of(env.providers[FLIPPED].address)
    sessions.withdraw(env.providers[FLIPPED], env.market.deployment.token)
    assert env.token.balance_of(env.providers[FLIPPED].address) == before + PRICE
    assert keccak(fetch(env.market.store, final.report_cid)) == final.report_hash
