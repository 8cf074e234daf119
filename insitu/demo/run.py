"""`insitu demo`: start what is missing, run every demo flow, print the reports, stop.

1. the marketplace flow: publish, a signed (EIP-712 + permit) purchase, delivery, payment;
   then compute-to-data: a scikit-learn job run by a provider's worker next to its data, and a
   federated cold-chain query across two carriers that reveals only the combined counts;
2. private inference: two models sold per prediction on secret shares;
3. federated synthetic data: DP generators combined, a flipped-label contributor rejected;
4. the main demo: credit-card fraud detection trained federatedly across banks, with
   Shapley-weighted rewards paid on-chain and a Markdown report with plots.

Everything runs on the local stack unless URLs are configured (see ``insitu.config``); the demo
stops exactly the services and workers it started, so nothing is left running.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from insitu.chain import connect
from insitu.config import Settings, load_settings
from insitu.demo.compute_step import run_compute_demo
from insitu.demo.fraud import run_fraud_demo
from insitu.demo.inference_step import run_inference_demo
from insitu.demo.ledger import DemoLedger
from insitu.demo.marketplace import Cast, run_marketplace_flow
from insitu.demo.synth_step import run_synth_demo
from insitu.market import Marketplace, ensure_deployment
from insitu.stack import LocalStack
from insitu.storage import open_store


def run_demo(settings: Settings | None = None, console: Console | None = None) -> Path:
    """Run the demos; return the path of the fraud demo's report."""
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
        cast = Cast.local()
        deployment, fresh = ensure_deployment(w3, settings, cast.operator)
        ledger.note(
            "operator",
            "deployed contracts" if fresh else "reused deployment",
            f"registry {deployment.registry} escrow {deployment.escrow} "
            f"session {deployment.session} token {deployment.token}",
        )
        store = open_store(endpoints.ipfs_url, endpoints.ipfs_store_dir)
        market = Marketplace(w3, deployment, store)
        run_marketplace_flow(market, cast, ledger)
        run_compute_demo(
            market, cast, rpc_url=endpoints.rpc_url, redis_url=endpoints.redis_url, ledger=ledger
        )
        ledger.end_phase()
        console.print(ledger.table())
        console.print(ledger.phase_table())

        console.rule("[bold]Private inference: predictions paid per row, on secret shares")
        run_inference_demo(market, console, endpoints)

        console.rule("[bold]Federated synthetic data: DP generators, validated combination")
        run_synth_demo(market, console, endpoints)

        console.rule("[bold]Main demo: credit-card fraud across banks")
        report = run_fraud_demo(settings, console, endpoints=endpoints)
    return report
