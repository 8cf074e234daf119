"""The main demo: credit-card fraud detection trained federatedly across banks.

``run_fraud_demo(settings, console)``: start (or reuse) the local stack, deploy, let each bank
publish its transactions as a compute-only dataset (metadata on IPFS; the rows are written to a
private per-bank directory that only that bank's worker reads), escrow the prices and a reward
pool, run the session on real worker processes (one Celery worker + one listener per bank and
for the coordinator), value the contributions, wait out the challenge window (``evm_increaseTime``
on the local chain), claim and withdraw, and write ``reports/fraud-<timestamp>/report.md``.

The transactions are SYNTHETIC unless ``csv`` is given (e.g. the public creditcard.csv with a
``Class`` column, split non-IID across the banks).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import redis
from eth_utils import keccak
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from insitu.chain import AccessMode, connect, dev_accounts
from insitu.chain.session import FederatedSession, SessionStatus
from insitu.config import Settings
from insitu.demo.ledger import DemoLedger
from insitu.demo.report import BankRow, FraudDemoResult, write_report
from insitu.errors import InsituError
from insitu.federated.data import (
    MERCHANT_CATEGORIES,
    FederatedDataset,
    load_csv_split,
    synthetic_fraud,
)
from insitu.federated.params import build_model
from insitu.federated.valuation import ValuationReport, roc_auc
from insitu.fl.documents import AggregateDoc, SessionConfig, fetch
from insitu.fl.launch import Federation, WorkerSpec, write_worker_config
from insitu.fl.sdk import claim_all, create_session, publish_template, wait_accepted
from insitu.market import Marketplace, ensure_deployment
from insitu.stack import LocalStack
from insitu.stack.stack import Endpoints
from insitu.storage import open_store

TOKEN = 10**18
LOG_COLUMNS = ["amount", "distance_from_home_km", "amount_to_avg_ratio", "account_age_days"]
CLASSES = [0, 1]


def fraud_template(ds: FederatedDataset) -> Pipeline:
    """The data scientist's pipeline: encoding fitted on its own validation data, a scaler
    fitted federatedly from the banks' statistics, logistic regression trained federatedly."""
    X_val, _ = ds.xy(ds.validation)
    if "merchant_category" in ds.features:
        encode = ColumnTransformer(
            [
                (
                    "mcc",
                    OneHotEncoder(categories=[list(MERCHANT_CATEGORIES)]),
                    ["merchant_category"],
                ),
                ("log", FunctionTransformer(np.log1p), LOG_COLUMNS),
            ],
            remainder="passthrough",
        )
        encode.fit(X_val)
        return Pipeline(
            [("encode", encode), ("scale", StandardScaler()), ("clf", LogisticRegression())]
        )
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])


def _fitted_auc(template: BaseEstimator, frame: pd.DataFrame, ds: FederatedDataset) -> float:
    """AUC on the test set of the pipeline fitted centrally on `frame` (a baseline)."""
    model = clone(template).set_params(clf__max_iter=2000)
    X, y = ds.xy(frame)
    if len(np.unique(y)) < 2:
        return 0.5
    model.fit(X, y)
    X_test, y_test = ds.xy(ds.test)
    return roc_auc(y_test, model.predict_proba(X_test)[:, 1])


@contextlib.contextmanager
def _stack(settings: Settings, endpoints: Endpoints | None) -> Iterator[Endpoints]:
    if endpoints is not None:
        yield endpoints
        return
    with LocalStack(settings) as started:
        yield started


def run_fraud_demo(
    settings: Settings,
    console: Console | None = None,
    *,
    banks: int = 4,
    csv: Path | str | None = None,
    rounds: int = 5,
    rows_per_bank: int = 20_000,
    price: int = 5 * TOKEN,
    reward_pool: int = 100 * TOKEN,
    strategy: str = "fedavg",
    dp: dict[str, float] | None = None,
    endpoints: Endpoints | None = None,
    reports_dir: Path | str = "reports",
    seed: int = 0,
) -> Path:
    """Run the whole demo and return the path of its Markdown report."""
    console = console or Console()
    if not 2 <= banks <= 16:
        raise InsituError(f"--banks must be between 2 and 16, got {banks}.")
    ledger = DemoLedger(console)
    txs: list[tuple[str, str, str, int]] = []
    cids: list[tuple[str, str]] = []

    def tx(actor: str, action: str, receipt: Any, detail: str = "") -> None:
        txs.append((actor, action, receipt.tx_hash, receipt.gas_used))
        ledger.tx(actor, action, receipt, detail)

    ledger.phase("Stack: local chain, Redis and IPFS store")
    with (
        _stack(settings, endpoints) as ep,
        tempfile.TemporaryDirectory(prefix="insitu-fraud-") as tmp,
    ):
        console.print(
            f"  chain {ep.rpc_url}  redis {ep.redis_url}  ipfs {ep.ipfs_url or ep.ipfs_store_dir}"
        )
        w3 = connect(ep.rpc_url)
        store = open_store(ep.ipfs_url, ep.ipfs_store_dir)
        accounts = dev_accounts(3 + banks)
        for a in accounts[10:]:
            w3.provider.make_request("anvil_setBalance", [a.address, hex(100 * TOKEN)])
        operator, scientist, coordinator = accounts[:3]
        bank_accounts = accounts[3:]

        ledger.phase("Deploy contracts")
        deployment, fresh = ensure_deployment(w3, settings, operator)
        ledger.note(
            "operator",
            "deployed" if fresh else "reused deployment",
            f"registry {deployment.registry} session {deployment.session}",
        )
        market = Marketplace(w3, deployment, store)
        sessions = market.sessions

        ledger.phase("Data: each bank's transactions stay in its private directory")
        if csv is None:
            ds = synthetic_fraud(n_banks=banks, rows_per_bank=rows_per_bank, seed=seed)
        else:
            ds = load_csv_split(csv, n_banks=banks, seed=seed)
        names = list(ds.participants)
        root = Path(tmp)
        private: dict[str, Path] = {}
        for name, frame in ds.participants.items():
            d = root / name
            d.mkdir(mode=0o700)
            private[name] = d / "transactions.csv"
            frame.to_csv(private[name], index=False)
        scientist_dir = root / "data-scientist"
        scientist_dir.mkdir(mode=0o700)
        validation_csv = scientist_dir / "validation.csv"
        ds.validation.to_csv(validation_csv, index=False)
        console.print(f"  {ds.description}")

        ledger.phase("Publish: the template on IPFS, each bank's dataset on-chain")
        template = fraud_template(ds)
        template_cid, algo = publish_template(store, template)
        cids.append(("model template (pickled sklearn Pipeline)", template_cid))
        ledger.note("data scientist", "published the model template", f"{template_cid}")
        assets: list[bytes] = []
        for name, bank in zip(names, bank_accounts, strict=True):
            frame = ds.participants[name]
            pub = market.publish(
                bank,
                {
                    "name": f"{name} card transactions",
                    "kind": "dataset",
                    "description": "Card payments with a fraud label; compute-only, the rows "
                    "never leave the bank." + (" SYNTHETIC demo data." if csv is None else ""),
                    "rows": len(frame),
                    "license": "insitu compute-only",
                },
                price=price,
                mode=AccessMode.COMPUTE_ONLY,
                algorithms=[algo],
            )
            assets.append(pub.asset_id)
            cids.append((f"{name} dataset metadata", pub.metadata_cid))
            for step, receipt in pub.receipts.items():
                tx(name, f"{step} dataset", receipt, f"asset 0x{pub.asset_id.hex()[:12]}…")
        total = price * banks + reward_pool
        tx("operator", "mint INSITU to the data scientist",
           market.token.mint(operator, scientist.address, total))  # fmt: skip
        tx("data scientist", "approve the session contract",
           market.token.approve(scientist, deployment.session, total))  # fmt: skip

        ledger.phase("Workers: one Celery worker + listener per bank, and the coordinator")
        start_block = int(w3.eth.block_number)
        specs = [
            WorkerSpec(f"fraud-bank{i}", "participant", bank, {"0x" + a.hex(): private[n]}, {})
            for i, (n, bank, a) in enumerate(zip(names, bank_accounts, assets, strict=True))
        ]
        specs.append(
            WorkerSpec(
                "fraud-coordinator",
                "coordinator",
                coordinator,
                {},
                {"validation": str(validation_csv)},
            )
        )
        _reset_listeners(ep.redis_url, [s.organisation for s in specs])
        config_dir = root / "workers"
        paths = [
            write_worker_config(
                config_dir,
                s,
                rpc_url=ep.rpc_url,
                redis_url=ep.redis_url,
                ipfs_url=ep.ipfs_url,
                session_contract=deployment.session,
                start_block=start_block,
            )
            for s in specs
        ]
        federation = Federation(paths, settings)
        federation.start()
        try:
            ledger.note("workers", f"{len(specs)} units started", f"{2 * len(specs)} processes")
            ledger.phase("Session: escrow prices + reward pool, banks accept, training rounds")
            config = SessionConfig(
                template_cid=template_cid,
                template_hash="0x" + algo.hex(),
                features=ds.features,
                target=ds.target,
                classes=CLASSES,
                rounds=rounds,
                stats_round=True,
                strategy={"name": strategy},
                round_timeout=30.0,
                min_participants=max(2, banks // 2),
                dp=dp,
                seed=seed,
            )
            created = create_session(
                sessions,
                store,
                scientist,
                assets,
                config,
                reward_pool=reward_pool,
                coordinator=coordinator.address,
                token=deployment.token,
            )
            sid = created.session_id
            cids.append(("session config", sessions.created(sid).config_cid))
            tx("data scientist", "create session (escrow prices + pool)", created.receipt,
               f"session 0x{sid.hex()[:12]}…")  # fmt: skip
            wait_accepted(sessions, sid, timeout=60)
            tx("data scientist", "start session", sessions.start(scientist, sid))
            aucs = _watch(console, sessions, store, sid, config, template, ds, cids)
            ledger.phase("Verify: the valuation report on IPFS against the on-chain hash")
            final = sessions.finalization(sid)
            report_bytes = fetch(store, final.report_cid)
            report = ValuationReport.from_json(report_bytes.decode())
            match = keccak(report_bytes) == final.report_hash
            ledger.note(
                "data scientist",
                "report hash matches the chain" if match else "REPORT HASH MISMATCH",
                final.report_cid,
            )
            cids.append(("valuation report", final.report_cid))
            cids.append(("final model (last aggregate)", final.model_cid))

            _worker_transactions(w3, sessions, sid, names, txs)
            ledger.phase("Challenge window passes (evm_increaseTime), claims and withdrawals")
            window = sessions.get(sid).challenge_window
            w3.provider.make_request("evm_increaseTime", [window + 1])
            w3.provider.make_request("evm_mine", [])
            claims = claim_all(sessions, scientist, sid)
            for i, receipt in claims.participants.items():
                tx("data scientist", f"claim for {names[i]}", receipt)
            if claims.remainder is not None:
                tx("data scientist", "claim remainder", claims.remainder)
            state = sessions.get(sid)
            paid: dict[int, int] = {}
            for i, bank in enumerate(bank_accounts):
                paid[i] = sessions.withdrawable(bank.address, deployment.token)
                if paid[i]:
                    tx(names[i], "withdraw", sessions.withdraw(bank, deployment.token))
            remainder = sessions.withdrawable(scientist.address, deployment.token)
            if remainder:
                tx("data scientist", "withdraw remainder",
                   sessions.withdraw(scientist, deployment.token))  # fmt: skip
        except BaseException:
            console.print(federation.logs(20))
            raise
        finally:
            ledger.phase("Stop the workers")
            federation.stop()

        ledger.phase("Baselines and report")
        central = _fitted_auc(template, ds.pooled(), ds)
        rows = _bank_rows(w3, sessions, sid, names, ds, template, report, paid, price, txs)
        ledger.end_phase()
        result = FraudDemoResult(
            data_description=ds.description,
            synthetic=csv is None,
            banks=rows,
            federated_auc=aucs[-1],
            centralised_auc=central,
            round_aucs=aucs,
            session_id="0x" + sid.hex(),
            contract=deployment.session,
            strategy=strategy + (" + DP" if dp else ""),
            valuation_method=report.method,
            u_empty=report.u_empty,
            u_full=report.u_full,
            reward_pool=reward_pool,
            remainder=remainder,
            report_cid=final.report_cid,
            report_hash="0x" + keccak(report_bytes).hex(),
            report_hash_onchain="0x" + bytes(final.report_hash).hex(),
            model_cid=final.model_cid,
            config_cid=sessions.created(sid).config_cid,
            template_cid=template_cid,
            phases=dict(ledger.phases),
            transactions=txs,
            cids=cids,
            dp_epsilon=report.settings.get("dp_epsilon"),
            notes=[f"session status at the end: {state.status.name}"],
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = write_report(result, Path(reports_dir) / f"fraud-{stamp}")
    console.print(ledger.phase_table())
    console.print(_summary(result))
    console.print(f"[bold green]Report:[/] {path}")
    return path


def _worker_transactions(
    w3: Any,
    sessions: FederatedSession,
    sid: bytes,
    names: list[str],
    txs: list[tuple[str, str, str, int]],
) -> None:
    """Add the transactions the workers sent (found through the session's events)."""
    steps = {
        "ParticipantAccepted": "accept",
        "UpdateCommitted": "commitUpdate",
        "AggregateCommitted": "commitAggregate",
        "SessionFinalized": "finalize",
    }
    logs = [(name, log) for name in steps for log in sessions.events(name, sid)]
    logs.sort(key=lambda item: (item[1]["blockNumber"], item[1]["logIndex"]))
    for name, log in logs:
        a = log["args"]
        actor = names[int(a["index"])] if "index" in a else "coordinator"
        action = steps[name] + (f" round {a['round']}" if "round" in a else "")
        gas = int(w3.eth.get_transaction_receipt(log["transactionHash"])["gasUsed"])
        txs.append((actor, action, log["transactionHash"].to_0x_hex(), gas))


def _reset_listeners(redis_url: str, organisations: list[str]) -> None:
    # The demo's listeners start from this run's first block; a checkpoint left in a reused
    # Redis by an earlier run (possibly on a chain that no longer exists) would hide it.
    client = redis.Redis.from_url(redis_url)
    for org in organisations:
        keys = list(client.scan_iter(f"insitu:listener:{org}:*"))
        if keys:
            client.delete(*keys)


def _watch(
    console: Console,
    sessions: FederatedSession,
    store: Any,
    sid: bytes,
    config: SessionConfig,
    template: BaseEstimator,
    ds: FederatedDataset,
    cids: list[tuple[str, str]],
    timeout: float = 240.0,
) -> list[float]:
    """Live view until the session is finalized; returns the test AUC after each round."""
    from insitu.fl.view import SessionView

    view = SessionView(sessions, store, sid)
    X_test, y_test = ds.xy(ds.test)
    aucs: dict[int, float] = {}
    seen: set[str] = set()
    events: list[str] = []
    names = list(ds.participants)
    deadline = time.monotonic() + timeout

    def render() -> Group:
        table = Table("round", "included banks", "test ROC AUC", title="Training rounds")
        for r, auc in sorted(aucs.items()):
            table.add_row(str(r + 1), included.get(r, ""), f"{auc:.4f}")
        log = Table("on-chain events (latest 12)", show_header=True)
        for line in events[-12:]:
            log.add_row(line)
        return Group(table, log)

    included: dict[int, str] = {}
    with Live(render(), console=console, refresh_per_second=4) as live:
        while True:
            for name in ("UpdateCommitted", "AggregateCommitted", "SessionFinalized"):
                for log in sessions.events(name, sid):
                    key = f"{log['transactionHash'].to_0x_hex()}:{log['logIndex']}"
                    if key in seen:
                        continue
                    seen.add(key)
                    a = log["args"]
                    if name == "UpdateCommitted":
                        events.append(f"UpdateCommitted round {a['round']} by {names[a['index']]}")
                        cids.append((f"update r{a['round']} {names[a['index']]}", a["cid"]))
                    elif name == "AggregateCommitted":
                        r = int(a["round"])
                        events.append(f"AggregateCommitted round {r} mask {a['includedMask']:b}")
                        cids.append((f"aggregate r{r}", a["cid"]))
                        t = config.training_round(r)
                        if t is not None:
                            doc = AggregateDoc.from_bytes(
                                fetch(store, a["cid"], bytes(a["aggregateHash"]))
                            )
                            fitted = view.template()
                            model = build_model(fitted, doc.params, CLASSES)
                            aucs[t] = roc_auc(y_test, model.predict_proba(X_test)[:, 1])
                            included[t] = ", ".join(names[i] for i in doc.included)
                    else:
                        events.append(f"SessionFinalized scores {list(a['scores'])}")
            live.update(render())
            if sessions.status(sid) != SessionStatus.RUNNING:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("The session did not finish in time; see the worker logs.")
            time.sleep(0.25)
    return [aucs[t] for t in sorted(aucs)]


def _bank_rows(
    w3: Any,
    sessions: FederatedSession,
    sid: bytes,
    names: list[str],
    ds: FederatedDataset,
    template: BaseEstimator,
    report: ValuationReport,
    paid: dict[int, int],
    price: int,
    txs: list[tuple[str, str, str, int]],
) -> list[BankRow]:
    ints = report.integer_scores()
    gas: dict[int, int] = {i: 0 for i in range(len(names))}
    rounds: dict[int, int] = {i: 0 for i in range(len(names))}
    for name in ("ParticipantAccepted", "UpdateCommitted"):
        for log in sessions.events(name, sid):
            i = int(log["args"]["index"])
            gas[i] += int(w3.eth.get_transaction_receipt(log["transactionHash"])["gasUsed"])
            rounds[i] += name == "UpdateCommitted"
    for actor, action, _, g in txs:
        if action == "withdraw" and actor in names:
            gas[names.index(actor)] += g
    final_rounds = {int(log["args"]["index"]): 1 for log in sessions.events("UpdateCommitted", sid)}
    rows = []
    for i, name in enumerate(names):
        frame = ds.participants[name]
        earned_price = price if i in final_rounds else 0
        rows.append(
            BankRow(
                name=name,
                asset_id="0x" + bytes(sessions.participants(sid)[i].asset_id).hex(),
                rows=len(frame),
                fraud_rate=float(frame[ds.target].mean()),
                alone_auc=_fitted_auc(template, frame, ds),
                shapley=report.raw_values[i],
                score=ints[i],
                harmful=report.harmful[i],
                price=earned_price,
                reward=paid.get(i, 0) - earned_price,
                gas=gas[i],
                rounds_committed=rounds[i] - 1,  # minus the statistics round
            )
        )
    return rows


def _summary(r: FraudDemoResult) -> Table:
    table = Table("bank", "alone AUC", "Shapley", "score", "paid (INSITU)", title="Outcome")
    for b in r.banks:
        table.add_row(
            b.name, f"{b.alone_auc:.4f}", f"{b.shapley:+.4f}", str(b.score),
            f"{(b.price + b.reward) / TOKEN:,.4f}",
        )  # fmt: skip
    table.add_row("federated", f"{r.federated_auc:.4f}", "", "", "")
    table.add_row("centralised", f"{r.centralised_auc:.4f}", "", "", "")
    return table
