"""The session's steps in-process on the real chain: the SDK's join path, a provider refusing a
budget above its own, a replayed contribution rejected as invalid, and tamper checks."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from synth_session_data import cents_mapping
from synth_session_harness import POOL, SynthEnv
from typer.testing import CliRunner

from insitu.chain.session import SessionStatus
from insitu.cli import app
from insitu.storage import ContentStore
from insitu.synth.api import fit_contribution
from insitu.synth.schema import LocalMapping
from insitu.synthsession.combiner import Combiner
from insitu.synthsession.documents import GeneratorConfig, GeneratorDoc, fetch, put
from insitu.synthsession.errors import DocumentMismatch, GeneratorSessionError
from insitu.synthsession.provider import (
    Outcome,
    Provider,
    ProviderAsset,
    accept_generator_session,
)
from insitu.synthsession.sdk import (
    create_generator_session,
    join_generator_session,
    request_synthetic_sample,
)


def _session(env: SynthEnv, indexes: list[int], **changes: object) -> bytes:
    env.fund_scientist()
    values: dict[str, object] = {"epsilon": 4.0, "n_synthetic": 2000, "round_timeout": 5.0}
    values.update(changes)
    config = GeneratorConfig(env.template_cid, "0x" + env.algorithm.hex(), **values)  # type: ignore[arg-type]
    return create_generator_session(
        env.market, env.scientist, [env.assets[i] for i in indexes], config,
        reward_pool=POOL, coordinator=env.coordinator.address,
    ).session_id  # fmt: skip


def _combiner(env: SynthEnv) -> Combiner:
    return Combiner(
        env.market.sessions,
        env.market.store,
        env.coordinator,
        validation=pd.read_csv(env.validation_csv),
        validation_mapping=cents_mapping(),
        poll_interval=0.05,
    )


def test_join_without_worker_and_replayed_contribution(synth_env: SynthEnv, tmp_path: Path) -> None:
    env = synth_env
    sessions, store = env.market.sessions, env.market.store
    sid = _session(env, [0, 1])
    for i in (0, 1):
        joined = join_generator_session(
            env.market, env.providers[i], sid, env.csvs[i], env.mappings[i]
        )
        assert joined == {i: Outcome.ACCEPTED}
    sessions.start(env.scientist, sid)
    assert join_generator_session(
        env.market, env.providers[0], sid, env.csvs[0], env.mappings[0]
    ) == {0: Outcome.COMMITTED}
    assert join_generator_session(
        env.market, env.providers[0], sid, env.csvs[0], env.mappings[0]
    ) == {0: Outcome.ALREADY}
    # Provider 1 replays a contribution made for another session: valid JSON, wrong label.
    replayed = fit_contribution(
        pd.read_csv(env.csvs[1]), cents_mapping(), env.schema, 4.0, seed=1,
        participant="0x" + "ab" * 32 + ":1",
    )  # fmt: skip
    cid, digest = put(store, replayed.to_json())
    sessions.commit_update(env.providers[1], sid, 0, 1, digest, cid)

    result = _combiner(env).run(sid, opened_at=0.0)
    assert result.startswith("finalized"), result
    final = sessions.finalization(sid)
    assert final.scores[1] == 0 and final.scores[0] > 0
    doc = GeneratorDoc.from_bytes(fetch(store, final.model_cid, final.model_hash))
    assert "labelled" in doc.contributions[1]["invalid"] and doc.accepted == [0]
    assert _combiner(env).run(sid, opened_at=0.0) == "already"

    sample = request_synthetic_sample(env.market, sid, 500, LocalMapping.identity(env.schema))
    assert list(sample.columns) == env.schema.names and len(sample) == 500

    # The same through the CLI, configured like a user's shell.
    shell = {"INSITU_HOME": str(env.settings.home), "INSITU_RPC_URL": env.endpoints.rpc_url}
    status = CliRunner().invoke(app, ["synth", "session", "status", "0x" + sid.hex()], env=shell)
    assert status.exit_code == 0, status.output
    assert '"FINALIZED"' in status.output and '"accepted": false' in status.output
    out = tmp_path / "synthetic.csv"
    sampled = CliRunner().invoke(
        app,
        ["synth", "session", "sample", "0x" + sid.hex(), "--mapping", str(env.mappings[1]),
         "--n", "200", "--out", str(out)],
        env=shell,
    )  # fmt: skip
    assert sampled.exit_code == 0, sampled.output
    assert list(pd.read_csv(out).columns) == cents_mapping().local_names


def test_provider_refuses_a_budget_above_its_own(synth_env: SynthEnv) -> None:
    env = synth_env
    strict = Provider(
        env.market.sessions, env.market.store, env.providers[2],
        {env.assets[2]: ProviderAsset(env.csvs[2], env.mappings[2])}, max_epsilon=2.0,
    )  # fmt: skip
    sid = _session(env, [2], epsilon=8.0)
    assert accept_generator_session(strict, sid) == {0: Outcome.REFUSED}
    no_dp = _session(env, [2], epsilon=None)
    assert accept_generator_session(strict, no_dp) == {0: Outcome.REFUSED}
    strict.max_epsilon = math.inf
    assert accept_generator_session(strict, no_dp) == {0: Outcome.ACCEPTED}
    assert env.market.sessions.get(sid).accepted_mask == 0
    with pytest.raises(GeneratorSessionError, match="OPEN"):
        request_synthetic_sample(env.market, sid, 10, cents_mapping())
    assert env.market.sessions.status(sid) == SessionStatus.OPEN


def test_tampered_documents_are_refused(synth_env: SynthEnv) -> None:
    store: ContentStore = synth_env.market.store
    cid, digest = put(store, b'{"kind":"x"}')
    with pytest.raises(DocumentMismatch, match="challenge"):
        fetch(store, cid, bytes(32))
    assert fetch(store, cid, digest) == b'{"kind":"x"}'
    with pytest.raises(GeneratorSessionError, match="not a"):
        GeneratorConfig.from_bytes(b'{"template_cid": "x"}')
