"""Federated learning commands: the fraud demo and sessions (create, status, claim).

Thin shells over ``insitu.demo.fraud`` and ``insitu.fl.sdk``. Keys: the data scientist signs
with ``$INSITU_CONSUMER_KEY`` (anvil's dev account locally), see ``insitu.market.actors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from insitu.cli.common import console, user_errors
from insitu.config import load_settings

app = typer.Typer(
    help="Federated learning sessions with contribution rewards.", no_args_is_help=True
)
session_app = typer.Typer(
    help="Create a session, follow it, claim its payouts.", no_args_is_help=True
)
app.add_typer(session_app, name="session")


@app.command()
def demo(
    banks: Annotated[int, typer.Option(help="Number of banks (2-16).")] = 4,
    csv: Annotated[
        Path | None, typer.Option(help="Your own CSV with a `Class` column, split across banks.")
    ] = None,
    rounds: Annotated[int, typer.Option(help="Training rounds.")] = 5,
    strategy: Annotated[str, typer.Option(help="fedavg, fedprox, fedavgm or fedadam.")] = "fedavg",
) -> None:
    """Credit-card fraud across banks: a federated session end to end, with a report."""
    from insitu.demo.fraud import run_fraud_demo

    with user_errors():
        run_fraud_demo(load_settings(), console, banks=banks, csv=csv, rounds=rounds,
                       strategy=strategy)  # fmt: skip


def _context():
    from insitu.market import Marketplace

    market = Marketplace.connect(load_settings())
    return market, market.sessions


@session_app.command("create")
def create(
    assets: Annotated[str, typer.Option(help="Comma-separated dataset asset ids (0x...).")],
    template: Annotated[Path, typer.Option(help="Your pickled sklearn Pipeline/estimator.")],
    config: Annotated[
        Path,
        typer.Option(help="JSON with features, target, classes, rounds and optional settings."),
    ],
    pool: Annotated[float, typer.Option(help="Reward pool in INSITU tokens.")],
    coordinator: Annotated[str | None, typer.Option(help="Coordinator address.")] = None,
) -> None:
    """Publish the template and config on IPFS and create the session (escrows prices + pool)."""
    from insitu.chain.ids import bytes32
    from insitu.fl.documents import SessionConfig, put
    from insitu.fl.sdk import create_session
    from insitu.market.actors import CONSUMER, signer

    with user_errors():
        market, sessions = _context()
        scientist = signer(market.w3, CONSUMER, env="INSITU_CONSUMER_KEY")
        template_cid, algo = put(market.store, template.read_bytes())
        fields = json.loads(config.read_text())
        cfg = SessionConfig(template_cid=template_cid, template_hash="0x" + algo.hex(), **fields)
        ids = [bytes32(a.strip()) for a in assets.split(",") if a.strip()]
        amount = int(pool * 10**18)
        total = sessions.quote(ids, algo) + amount
        market.token.approve(scientist, sessions.address, total)
        created = create_session(
            sessions, market.store, scientist, ids, cfg, reward_pool=amount,
            coordinator=coordinator or scientist.address, token=market.deployment.token,
        )  # fmt: skip
    console.print(f"session 0x{created.session_id.hex()} (tx {created.receipt.tx_hash})")
    console.print(f"algorithm hash 0x{algo.hex()}: the banks must allowlist it on their assets")


@session_app.command("status")
def status(session: Annotated[str, typer.Argument(help="Session id (0x...).")]) -> None:
    """Status, round, who accepted/committed/claimed, and the scores once finalized."""
    from insitu.chain.ids import bytes32
    from insitu.fl.sdk import session_summary

    with user_errors():
        _, sessions = _context()
        console.print_json(json.dumps(session_summary(sessions, bytes32(session))))


@session_app.command("claim")
def claim(session: Annotated[str, typer.Argument(help="Session id (0x...).")]) -> None:
    """Credit every participant that worked and the data scientist's remainder."""
    from insitu.chain.ids import bytes32
    from insitu.fl.sdk import claim_all
    from insitu.market.actors import CONSUMER, signer

    with user_errors():
        market, sessions = _context()
        claims = claim_all(sessions, signer(market.w3, CONSUMER, env="INSITU_CONSUMER_KEY"),
                           bytes32(session))  # fmt: skip
    for i, receipt in claims.participants.items():
        console.print(f"participant {i}: tx {receipt.tx_hash} gas {receipt.gas_used:,}")
    if claims.remainder is not None:
        console.print(f"remainder: tx {claims.remainder.tx_hash}")
