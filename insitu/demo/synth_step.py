"""The federated-synthetic-data part of the demo: one generator session on worker processes.

``run_synth_demo(market, console, endpoints)``: four card-issuing providers publish their
transactions as compute-only datasets allowlisting the generator template (three honest, each
seeing mostly one fraud pattern, one of them in its own encoding; the fourth with flipped
labels). The data scientist escrows the prices and a reward pool in a generator session at
ε = 4; each provider's worker (a real Celery worker + listener) fits its DP contribution next to
its rows; the coordinator's worker combines them on the validation set, rejects the flipped
one, commits the generator and finalizes; a provider samples in its own encoding; after the
challenge window (skipped with ``evm_increaseTime``, local chains only) everyone is paid. The
workers are started and stopped here. The data is SYNTHETIC.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import redis
from rich.console import Console
from rich.table import Table
from web3.types import RPCEndpoint

from insitu.chain import AccessMode, dev_accounts
from insitu.chain.session import SessionStatus
from insitu.config import Settings
from insitu.fl.launch import Federation
from insitu.fl.sdk import claim_all, wait_accepted, wait_status
from insitu.market import Marketplace
from insitu.market.deployments import DEV_CHAIN_IDS
from insitu.stack.stack import Endpoints
from insitu.synth.schema import Column, LocalColumn, LocalMapping, Schema
from insitu.synthsession.documents import GeneratorConfig
from insitu.synthsession.launch import SynthWorkerSpec, write_synth_worker_config
from insitu.synthsession.sdk import (
    create_generator_session,
    generator_session_status,
    publish_generator_template,
    request_synthetic_sample,
)

TOKEN = 10**18
MERCHANTS = ("grocery", "travel", "electronics", "other")
EPSILON = 4.0
ROWS = 800
#: Accounts of anvil's dev mnemonic the demo uses: operator, scientist/coordinator, providers.
OPERATOR, SCIENTIST, PROVIDERS = 0, 3, (5, 6, 7, 8)


def demo_schema() -> Schema:
    """Card transactions: amount in EUR, hour, terminal temperature in °C, merchant, label."""
    return Schema(
        "card_transactions_demo/v1",
        (
            Column("amount", "numeric", unit="EUR", lower=0.0, upper=5000.0, log_scale=True),
            Column("hour", "numeric", unit="h", lower=0.0, upper=23.0),
            Column("temp", "numeric", unit="°C", lower=-30.0, upper=50.0),
            Column("merchant", "categorical", categories=MERCHANTS),
            Column("fraud", "label", categories=(0, 1)),
        ),
    )


def demo_rows(n: int, rng: np.random.Generator, pattern: int | None) -> pd.DataFrame:
    """Rows in schema encoding; fraud shows `pattern` (0 amount, 1 hour, 2 merchant) or all."""
    y = (rng.random(n) < 0.25).astype(int)
    which = rng.integers(0, 3, n) if pattern is None else np.full(n, pattern)
    fraud = y.astype(bool)
    big, night, shop = fraud & (which == 0), fraud & (which == 1), fraud & (which == 2)
    amount = np.round(np.where(big, rng.lognormal(6.0, 0.4, n), rng.lognormal(3.3, 0.8, n)), 2)
    hour = np.where(night, rng.integers(0, 5, n), np.clip(np.rint(rng.normal(14, 3, n)), 6, 23))
    merchant = np.where(
        shop,
        rng.choice(MERCHANTS, n, p=[0.02, 0.03, 0.9, 0.05]),
        rng.choice(MERCHANTS, n, p=[0.5, 0.15, 0.05, 0.3]),
    )
    return pd.DataFrame(
        {
            "amount": amount,
            "hour": hour.astype(float),
            "temp": np.round(rng.normal(15, 8, n), 1),
            "merchant": merchant,
            "fraud": y,
        }
    )


def cents_mapping() -> LocalMapping:
    """A provider with its own names, cents, °F, merchant codes and 'F'/'N' labels."""
    return LocalMapping(
        (
            LocalColumn("amt_cents", "amount", scale=100.0, decimals=0),
            LocalColumn("txn_hour", "hour", decimals=0),
            LocalColumn("temp_f", "temp", scale=1.8, offset=32.0, decimals=1),
            LocalColumn(
                "mcc",
                "merchant",
                codes={5411: "grocery", 4511: "travel", 5732: "electronics", 9999: "other"},
            ),
            LocalColumn("is_fraud", "fraud", codes={"N": 0, "F": 1}),
        )
    )


def _worker_settings(endpoints: Endpoints, scratch: Path) -> Settings:
    # The workers must share the demo's IPFS store: the embedded one lives in <home>/ipfs.
    embedded = endpoints.ipfs_url is None
    home = Path(endpoints.ipfs_store_dir).parent if embedded else scratch / "home"
    return Settings(
        home=home,
        rpc_url=endpoints.rpc_url,
        redis_url=endpoints.redis_url,
        ipfs_url=endpoints.ipfs_url,
    )


def _reset_listeners(redis_url: str, organisations: list[str]) -> None:
    # Listeners start from this run's first block; a checkpoint left in a reused Redis by an
    # earlier run (possibly on a chain that no longer exists) would hide it.
    client = redis.Redis.from_url(redis_url)
    for org in organisations:
        keys = list(client.scan_iter(f"insitu:listener:{org}:*"))
        if keys:
            client.delete(*keys)


def run_synth_demo(market: Marketplace, console: Console, endpoints: Endpoints) -> dict[str, Any]:
    """Run one generator session end to end; return its summary (ids, CIDs, scores, payouts)."""
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    w3 = market.w3
    accounts = dev_accounts(max(PROVIDERS) + 1)
    operator, scientist = accounts[OPERATOR], accounts[SCIENTIST]
    providers = [accounts[i] for i in PROVIDERS]
    schema = demo_schema()
    price, pool = 2 * TOKEN, 10 * TOKEN
    summary: dict[str, Any] = {"epsilon": EPSILON}
    with tempfile.TemporaryDirectory(prefix="insitu-synth-") as tmp:
        root = Path(tmp)
        template_cid, algo = publish_generator_template(market.store, schema)
        summary["template_cid"] = template_cid
        rng = np.random.default_rng(2026)
        identity = LocalMapping.identity(schema)
        specs: list[SynthWorkerSpec] = []
        assets: list[bytes] = []
        names = ["issuer-a", "issuer-b (own encoding)", "issuer-c", "issuer-d (flipped labels)"]
        for i, (name, pattern, account) in enumerate(
            zip(names, (0, 1, 2, None), providers, strict=True)
        ):
            rows = demo_rows(ROWS, rng, pattern)
            if pattern is None:
                rows["fraud"] = 1 - rows["fraud"]
            mapping = cents_mapping() if i == 1 else identity
            folder = root / f"provider{i}"
            folder.mkdir(mode=0o700)
            mapping.from_schema(rows, schema).to_csv(folder / "rows.csv", index=False)
            (folder / "mapping.json").write_text(json.dumps(mapping.to_dict()))
            pub = market.publish(
                account,
                {"name": f"{name} card transactions", "kind": "dataset",
                 "description": "SYNTHETIC demo data; compute-only."},
                price=price, mode=AccessMode.COMPUTE_ONLY, algorithms=[algo],
            )  # fmt: skip
            assets.append(pub.asset_id)
            specs.append(
                SynthWorkerSpec(
                    f"synth-demo-provider{i}",
                    "provider",
                    account,
                    {"0x" + pub.asset_id.hex(): (folder / "rows.csv", folder / "mapping.json")},
                )
            )
        validation = root / "validation.csv"
        demo_rows(1500, rng, None).to_csv(validation, index=False)
        specs.append(
            SynthWorkerSpec(
                "synth-demo-coordinator", "coordinator", scientist,
                options={"validation": str(validation)},
            )
        )  # fmt: skip
        market.token.mint(operator, scientist.address, price * len(assets) + pool)
        timings["publish"] = time.monotonic() - t0

        _reset_listeners(endpoints.redis_url, [s.organisation for s in specs])
        start_block = int(w3.eth.block_number)
        paths = [
            write_synth_worker_config(
                root / "workers", s, rpc_url=endpoints.rpc_url, redis_url=endpoints.redis_url,
                ipfs_url=endpoints.ipfs_url, session_contract=market.sessions.address,
                start_block=start_block, visibility_timeout=60,
            )
            for s in specs
        ]  # fmt: skip
        federation = Federation(paths, _worker_settings(endpoints, root))
        federation.start()
        try:
            console.print(f"  {len(specs)} synth worker units started ({2 * len(specs)} processes)")
            timings["workers_started"] = time.monotonic() - t0
            config = GeneratorConfig(template_cid, "0x" + algo.hex(), epsilon=EPSILON)
            created = create_generator_session(
                market, scientist, assets, config, reward_pool=pool,
                coordinator=scientist.address,
            )  # fmt: skip
            sid = created.session_id
            summary["session"] = "0x" + sid.hex()
            summary["create_tx"] = created.receipt.tx_hash
            wait_accepted(market.sessions, sid, timeout=60)
            summary["start_tx"] = market.sessions.start(scientist, sid).tx_hash
            wait_status(market.sessions, sid, {SessionStatus.FINALIZED}, timeout=90)
            timings["finalized"] = time.monotonic() - t0
        except Exception:
            console.print(federation.logs(15))
            raise
        finally:
            federation.stop()

        status = generator_session_status(market, sid)
        final = market.sessions.finalization(sid)
        summary.update(
            generator_cid=final.model_cid,
            report_cid=final.report_cid,
            scores=list(final.scores),
            final_metric=status["final_metric"],
            participants=status["participants"],
        )
        table = Table(title=f"Generator session 0x{sid.hex()[:12]}… (ε = {EPSILON})")
        for col in ("provider", "accepted", "AUC gain", "score", "spent ε"):
            table.add_column(col)
        for name, p in zip(names, status["participants"], strict=True):
            eps = p.get("spent_epsilon")
            table.add_row(
                name,
                "yes" if p.get("accepted") else "[red]rejected[/]",
                f"{p.get('gain') or 0.0:+.3f}",
                str(p.get("score")),
                f"{eps:.2f}" if eps is not None else "-",
            )
        console.print(table)
        console.print(
            f"  validation ROC AUC of a model trained on the generator's samples: "
            f"{status['final_metric']:.3f}; generator {final.model_cid}"
        )
        sample = request_synthetic_sample(market, sid, 1000, cents_mapping(), seed=0)
        summary["sample_columns"] = list(sample.columns)
        console.print("  issuer-b samples in its own encoding (cents, °F, MCC codes, F/N):")
        console.print(sample.head(3).to_string(index=False))

        if w3.eth.chain_id in DEV_CHAIN_IDS:
            window = market.sessions.get(sid).challenge_window
            w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [window + 1])
            w3.provider.make_request(RPCEndpoint("evm_mine"), [])
            claims = claim_all(market.sessions, scientist, sid)
            paid = {
                int(log["args"]["index"]): int(log["args"]["price"] + log["args"]["reward"])
                for log in market.sessions.events("RewardClaimed", sid)
            }
            summary["payouts"] = [paid.get(i, 0) for i in range(len(assets))]
            summary["claim_txs"] = [r.tx_hash for r in claims.participants.values()]
            console.print(
                "  payouts (INSITU): "
                + ", ".join(
                    f"{n.split(' ')[0]} {v / TOKEN:.3f}"
                    for n, v in zip(names, summary["payouts"], strict=True)
                )
            )
        timings["total"] = time.monotonic() - t0
    summary["timings"] = {k: round(v, 2) for k, v in timings.items()}
    return summary
