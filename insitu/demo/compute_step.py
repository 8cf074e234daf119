"""The compute-to-data part of the demo: one paid scikit-learn job and one federated query.

``run_compute_demo(market, cast, rpc_url=..., redis_url=...)`` needs only the local stack's
endpoints: it writes small synthetic private tables to a temporary folder, publishes the
built-in algorithms and the datasets, starts a provider worker per organisation (Bank A; two
cold-chain carriers) as real processes (listener + Celery pool), lets the data scientist buy
a training job through a relayer and decrypt its result, runs the federated cold-chain query
across the carriers, stops the workers and returns a summary (tx hashes, gas, CIDs, metrics,
latencies).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from eth_account.signers.local import LocalAccount

from insitu.chain import AccessMode, TxReceipt, dev_accounts, save_keystore
from insitu.compute.builtin import builtin_path
from insitu.compute.buyer import (
    publish_algorithm,
    request_compute,
    run_federated_query,
    wait_for_result,
)
from insitu.compute.readiness import wait_until_warm
from insitu.config import Settings
from insitu.crypto.ecies import public_key_from_private
from insitu.demo.ledger import DemoLedger
from insitu.errors import ConfigError
from insitu.market import Marketplace
from insitu.storage import EmbeddedStore, KuboStore
from insitu.worker import WorkerUnit, load_worker_config

TOKEN = 10**18
PASSWORD_ENV = "INSITU_DEMO_KEYSTORE_PASSWORD"
TRAIN = {
    "estimator": "sklearn.linear_model.LogisticRegression",
    "target": "is_fraud",
    "features": ["amount", "hour", "merchant_risk", "foreign"],
    "estimator_params": {"max_iter": 500},
}


class DemoCast(Protocol):
    """Who plays which part (the demo's ``Cast``)."""

    operator: LocalAccount
    bank_a: LocalAccount
    scientist: LocalAccount
    relayer: LocalAccount


def fraud_table(n: int = 3000, seed: int = 7) -> pd.DataFrame:
    """Synthetic card transactions whose fraud label depends on amount, hour and risk."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.5, 1.0, n)
    hour = rng.integers(0, 24, n)
    risk = rng.uniform(0, 1, n)
    foreign = rng.integers(0, 2, n)
    logit = -5 + 0.012 * amount + 1.5 * (hour < 5) + 3 * risk + 0.8 * foreign
    fraud = (rng.uniform(0, 1, n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "amount": amount.round(2),
            "hour": hour,
            "merchant_risk": risk,
            "foreign": foreign,
            "is_fraud": fraud,
        }
    )


def readings_table(n_shipments: int, seed: int, prefix: str) -> pd.DataFrame:
    """Cold-chain temperature readings, a few shipments leaving 2–8 °C."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_shipments):
        temps = rng.normal(5.0, 1.0, 6)
        if rng.uniform() < 0.12:
            temps[rng.integers(0, 6)] = rng.choice([10.5, 0.5])
        rows += [
            {"shipment_id": f"{prefix}-{s:04d}", "temperature_c": round(float(t), 2)} for t in temps
        ]
    return pd.DataFrame(rows)


def _store_home(market: Marketplace) -> tuple[Path | None, str | None]:
    """(home whose ``ipfs`` folder is the market's store, Kubo URL) for the worker processes."""
    store = market.store
    if isinstance(store, KuboStore):
        return None, store.api_url
    if isinstance(store, EmbeddedStore) and store.root_dir.name == "ipfs":
        return store.root_dir.parent, None
    raise ConfigError(
        f"the demo's workers must share the market's IPFS store {store!r}: use a "
        "Kubo URL or the embedded store of an insitu home (<home>/ipfs)."
    )


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _config(
    path: Path,
    org: str,
    rpc_url: str,
    redis_url: str,
    ipfs_url: str | None,
    escrow: str,
    keystore: Path,
    provider: str,
    assets: dict[str, Path],
) -> Path:
    lines = [
        f'organisation = "{org}"',
        'app = "insitu.compute.worker_app"',
        f'rpc_url = "{rpc_url}"',
        f'redis_url = "{redis_url}"',
        "poll_interval = 0.1",
        "concurrency = 1",
        "visibility_timeout = 30",
    ]
    if ipfs_url:
        lines.append(f'ipfs_url = "{ipfs_url}"')
    lines += [
        "[keystore]",
        f'path = "{keystore}"',
        f'password_env = "{PASSWORD_ENV}"',
        "[contracts]",
        f'AgreementEscrow = "{escrow}"',
        "[options]",
        f'provider_address = "{provider}"',
    ]
    for asset, data in assets.items():
        lines += [f'[assets."{asset}"]', f'data = "{data}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def run_compute_demo(
    market: Marketplace,
    cast: DemoCast,
    *,
    rpc_url: str,
    redis_url: str,
    carriers: Sequence[LocalAccount] | None = None,
    ledger: DemoLedger | None = None,
) -> dict[str, Any]:
    """Run the compute-to-data demo (see the module docstring); returns its summary."""
    home, ipfs_url = _store_home(market)
    carriers = list(carriers or dev_accounts(8)[6:8])
    workdir = Path(tempfile.mkdtemp(prefix="insitu-demo-compute-"))
    password = secrets.token_hex(16)
    summary: dict[str, Any] = {"transactions": []}

    def record(actor: str, action: str, receipt: TxReceipt, detail: str = "") -> None:
        summary["transactions"].append(
            {"actor": actor, "action": action, "tx": receipt.tx_hash, "gas": receipt.gas_used}
        )
        if ledger is not None:
            ledger.tx(actor, action, receipt, detail)

    def note(actor: str, action: str, detail: str = "") -> None:
        if ledger is not None:
            ledger.note(actor, action, detail)

    units: list[WorkerUnit] = []
    try:
        algorithms = {
            n: publish_algorithm(market, cast.operator, builtin_path(n))
            for n in ("sklearn_train", "coldchain_query")
        }
        for name, algo in algorithms.items():
            record(
                "operator",
                f"publish algorithm {name}",
                algo.publication.receipts["register"],
                f"package {algo.package_cid}",
            )
        record(
            "operator",
            "mint 20 INSITU to the data scientist",
            market.token.mint(cast.operator, cast.scientist.address, 20 * TOKEN),
        )

        providers = [
            ("bank-a", "Bank A card transactions", cast.bank_a, fraud_table(), "sklearn_train"),
            *(
                (
                    f"carrier-{i + 1}",
                    f"Carrier {i + 1} cold-chain readings",
                    acct,
                    readings_table(120 + 40 * i, 11 + i, f"C{i + 1}"),
                    "coldchain_query",
                )
                for i, acct in enumerate(carriers)
            ),
        ]
        datasets: dict[str, bytes] = {}
        configs: list[Path] = []
        for org, title, account, table, algo in providers:
            data = workdir / org / "private.csv"
            data.parent.mkdir(parents=True)
            table.to_csv(data, index=False)
            pub = market.publish(
                account,
                {
                    "name": title,
                    "kind": "dataset",
                    "rows": len(table),
                    "description": "Compute-only: the rows never leave the provider.",
                    "extra": {
                        "provider_public_key": "0x" + public_key_from_private(account.key).hex()
                    },
                },
                price=TOKEN,
                mode=AccessMode.COMPUTE_ONLY,
                algorithms=[algorithms[algo].hash_bytes],
            )
            record(
                org,
                "publish compute-only dataset",
                pub.receipts["register"],
                f"asset 0x{pub.asset_id.hex()[:12]}…",
            )
            datasets[org] = pub.asset_id
            keystore = save_keystore(account, workdir / org / "key.json", password)
            configs.append(
                _config(
                    workdir / f"{org}.toml",
                    f"demo-{org}",
                    rpc_url,
                    redis_url,
                    ipfs_url,
                    market.escrow.address,
                    keystore,
                    account.address,
                    {"0x" + pub.asset_id.hex(): data},
                )
            )

        started = time.perf_counter()
        env = {PASSWORD_ENV: password, **({"INSITU_HOME": str(home)} if home else {})}
        settings = Settings(home=home or workdir)
        with _environment(env):
            units.extend(
                WorkerUnit(load_worker_config(path, settings), ready_timeout=90) for path in configs
            )
            # Started side by side: each unit spends most of its start-up importing.
            with ThreadPoolExecutor(len(units)) as pool:
                list(pool.map(lambda unit: unit.start(), units))
                list(pool.map(lambda unit: wait_until_warm(unit.config), units))
        summary["workers_start_seconds"] = round(time.perf_counter() - started, 2)
        note(
            "providers",
            "started 3 provider workers (listener + Celery + sandbox zygote)",
            f"{summary['workers_start_seconds']} s",
        )

        t0 = time.perf_counter()
        request = request_compute(
            market,
            cast.scientist,
            datasets["bank-a"],
            algorithms["sklearn_train"].asset_id,
            TRAIN,
            relayer=cast.relayer,
        )
        record(
            "relayer",
            "createSigned compute job (train fraud model at Bank A)",
            request.receipts[-1],
            f"job document {request.params_cid}",
        )
        result = wait_for_result(
            market, request.agreement_id, cast.scientist, timeout=120, dest=workdir / "result"
        )
        latency = time.perf_counter() - t0
        metrics = result.metrics()
        note(
            "data scientist",
            "result verified on-chain and decrypted",
            f"{result.cid}: accuracy {metrics['accuracy']:.3f}, ROC AUC "
            f"{metrics.get('roc_auc', float('nan')):.3f}, {latency:.2f} s after purchase",
        )
        summary["compute"] = {
            "agreement": "0x" + request.agreement_id.hex(),
            "result_cid": result.cid,
            "result_hash": "0x" + result.result_hash.hex(),
            "fulfil_tx": result.fulfil_tx,
            "metrics": {
                k: metrics[k] for k in ("accuracy", "roc_auc", "n_train", "n_test") if k in metrics
            },
            "purchase_to_result_seconds": round(latency, 2),
        }

        t0 = time.perf_counter()
        federated = run_federated_query(
            market,
            cast.scientist,
            [datasets[f"carrier-{i + 1}"] for i in range(len(carriers))],
            algorithms["coldchain_query"].asset_id,
            {"low": 2.0, "high": 8.0},
            relayer=cast.relayer,
            timeout=120,
        )
        totals = federated.as_dict()
        note(
            "data scientist",
            "federated cold-chain query: combined counts only",
            f"{totals['n_flagged']} of {totals['n_shipments']} shipments left 2–8 °C "
            f"({totals['n_too_warm']} too warm, {totals['n_too_cold']} too cold)",
        )
        summary["federated"] = {
            "agreements": ["0x" + a.hex() for a in federated.agreements],
            "session": federated.session,
            "totals": totals,
            "seconds": round(time.perf_counter() - t0, 2),
        }
        return summary
    finally:
        for unit in reversed(units):
            with contextlib.suppress(Exception):
                unit.stop()
        shutil.rmtree(workdir, ignore_errors=True)
