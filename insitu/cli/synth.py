"""Federated synthetic data commands: generator sessions (create, join, status, sample).

Thin shells over ``insitu.synthsession.sdk``. Keys: the data scientist signs with
``$INSITU_CONSUMER_KEY``, a provider joining without a worker with ``$INSITU_PROVIDER_KEY``
(anvil's dev accounts locally), see ``insitu.market.actors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from insitu.cli.common import console, user_errors
from insitu.config import load_settings

app = typer.Typer(
    help="Federated synthetic data: DP generators combined across providers.",
    no_args_is_help=True,
)
session_app = typer.Typer(
    help="Create a generator session, join it, follow it, sample from it.", no_args_is_help=True
)
app.add_typer(session_app, name="session")


def _market() -> Any:
    from insitu.market import Marketplace

    return Marketplace.connect(load_settings())


@session_app.command("create")
def create(
    assets: Annotated[str, typer.Option(help="Comma-separated dataset asset ids (0x...).")],
    schema: Annotated[Path, typer.Option(help="The shared schema JSON (Schema.to_dict).")],
    pool: Annotated[float, typer.Option(help="Reward pool in INSITU tokens.")],
    epsilon: Annotated[
        float | None, typer.Option(help="ε of every contribution; omit for no DP.")
    ] = None,
    delta: Annotated[float, typer.Option(help="δ of every contribution.")] = 1e-5,
    n_synthetic: Annotated[int, typer.Option(help="Rows the combiner samples per test.")] = 4000,
    coordinator: Annotated[str | None, typer.Option(help="Coordinator address.")] = None,
    start: Annotated[
        bool, typer.Option(help="Wait until every provider accepted, then start it.")
    ] = False,
) -> None:
    """Publish the generator template and config, create the session (escrows prices + pool)."""
    from insitu.chain.ids import bytes32
    from insitu.fl.sdk import wait_accepted
    from insitu.market.actors import CONSUMER, signer
    from insitu.synth.schema import Schema
    from insitu.synthsession.documents import GeneratorConfig
    from insitu.synthsession.sdk import create_generator_session, publish_generator_template

    with user_errors():
        market = _market()
        scientist = signer(market.w3, CONSUMER, env="INSITU_CONSUMER_KEY")
        parsed = Schema.from_dict(json.loads(schema.read_text()))
        template_cid, algo = publish_generator_template(market.store, parsed)
        config = GeneratorConfig(
            template_cid, "0x" + algo.hex(), epsilon=epsilon, delta=delta, n_synthetic=n_synthetic
        )
        ids = [bytes32(a.strip()) for a in assets.split(",") if a.strip()]
        created = create_generator_session(
            market, scientist, ids, config, reward_pool=int(pool * 10**18),
            coordinator=coordinator or scientist.address,
        )  # fmt: skip
        sid = created.session_id
        console.print(f"session 0x{sid.hex()} (tx {created.receipt.tx_hash})")
        console.print(f"algorithm hash 0x{algo.hex()}: providers must allowlist it on their assets")
        if start:
            wait_accepted(market.sessions, sid, timeout=300)
            receipt = market.sessions.start(scientist, sid)
            console.print(f"started (tx {receipt.tx_hash})")


@session_app.command("join")
def join(
    session: Annotated[str, typer.Argument(help="Session id (0x...).")],
    data: Annotated[Path, typer.Option(help="Your private CSV, in your local encoding.")],
    mapping: Annotated[Path, typer.Option(help="Your local mapping JSON (LocalMapping).")],
    max_epsilon: Annotated[float, typer.Option(help="Largest ε you agree to spend.")] = 10.0,
) -> None:
    """As a provider without a worker: accept an open session, or contribute to a running one."""
    from insitu.chain.ids import bytes32
    from insitu.market.actors import PROVIDER_A, signer
    from insitu.synthsession.sdk import join_generator_session

    with user_errors():
        market = _market()
        provider = signer(market.w3, PROVIDER_A, env="INSITU_PROVIDER_KEY")
        outcomes = join_generator_session(
            market, provider, bytes32(session), data, mapping, max_epsilon=max_epsilon
        )
    for index, outcome in outcomes.items():
        console.print(f"slot {index}: {outcome}")


@session_app.command("status")
def status(session: Annotated[str, typer.Argument(help="Session id (0x...).")]) -> None:
    """Status, who accepted/contributed, and once finalized: verdicts, gains, scores, ε."""
    from insitu.chain.ids import bytes32
    from insitu.synthsession.sdk import generator_session_status

    with user_errors():
        summary = generator_session_status(_market(), bytes32(session))
    console.print_json(json.dumps(summary))


@session_app.command("sample")
def sample(
    session: Annotated[str, typer.Argument(help="Session id (0x...).")],
    mapping: Annotated[Path, typer.Option(help="Your local mapping JSON (LocalMapping).")],
    out: Annotated[Path, typer.Option(help="Where to write the synthetic CSV.")],
    n: Annotated[int, typer.Option(help="Number of synthetic rows.")] = 1000,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (reproducible draws).")] = None,
) -> None:
    """Sample the finalized generator (hash-checked against the chain) in your own encoding."""
    from insitu.chain.ids import bytes32
    from insitu.synthsession.sdk import load_mapping, request_synthetic_sample

    with user_errors():
        frame = request_synthetic_sample(
            _market(), bytes32(session), n, load_mapping(mapping), seed=seed
        )
        frame.to_csv(out, index=False)
    console.print(f"{len(frame)} synthetic rows -> {out}")
