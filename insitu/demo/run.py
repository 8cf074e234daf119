"""`insitu demo`: start what is missing, run the demo flows, print the report, stop.

Everything runs on the local stack unless URLs are configured (see ``insitu.config``); the demo
stops exactly the services it started, so nothing is left running.
"""

from __future__ import annotations

from rich.console import Console

from insitu.chain import connect, dev_accounts
from insitu.config import Settings, load_settings
from insitu.demo.ledger import DemoLedger
from insitu.demo.marketplace import Cast, run_marketplace_flow
from insitu.market import Marketplace, ensure_deployment
from insitu.stack import LocalStack
from insitu.storage import open_store


def run_demo(settings: Settings | None = None, console: Console | None = None) -> DemoLedger:
    settings = settings or load_settings()
    console = console or Console()
    ledger = DemoLedger(console)
    ledger.phase("Stack: local chain, Redis and IPFS store")
    with LocalStack(settings) as endpoints:
        console.print(
            f"  chain {endpoints.rpc_url}  redis {endpoints.redis_url}  "
            f"ipfs {endpoints.ipfs_url or endpoints.ipfs_store_dir}  "
            f"(started {endpoints.started or '-'}, reused {endpoints.reused or '-'})"
        )
        w3 = connect(endpoints.rpc_url)
        operator = dev_accounts(1)[0]
        deployment, fresh = ensure_deployment(w3, settings, operator)
        ledger.note(
            "operator",
            "deployed contracts" if fresh else "reused deployment",
            f"registry {deployment.registry} escrow {deployment.escrow} token {deployment.token}",
        )
        market = Marketplace(
            w3, deployment, open_store(endpoints.ipfs_url, endpoints.ipfs_store_dir)
        )
        run_marketplace_flow(market, Cast.local(), ledger)
        ledger.end_phase()
        console.print(ledger.table())
        console.print(ledger.phase_table())
    return ledger
