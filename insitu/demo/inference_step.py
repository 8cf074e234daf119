"""The private-inference part of the demo: two models sold per row without revealing weights.

``run_inference_demo(market, console, endpoints)`` trains a ReLU MLP on scikit-learn's bundled
``digits`` (8×8 images, standing in for the brief's skin photos) and a logistic regression on
``breast_cancer``, publishes each as an inference-mode model asset priced per row, starts the
model owner's inference worker (listener + Celery, real processes) and an independent dealer's
worker (Celery), and has a buyer get private predictions on its held-out rows. It prints, per
model, the private accuracy beside the plaintext one (equal), the time, the bytes exchanged and
the cost (tokens paid for the rows, refund of the unused ones), stops the workers and returns
the same figures.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from insitu.chain import dev_accounts
from insitu.inference import buy_predictions, publish_model
from insitu.inference.launch import (
    owner_workers,
    write_dealer_config,
    write_owner_config,
)
from insitu.market import Marketplace
from insitu.market.actors import OPERATOR, signer
from insitu.stack.stack import Endpoints
from insitu.worker import queue_name

#: Dev accounts of the demo's model owner (the AI vendor), prediction buyer (a clinic) and
#: dealer (an organisation both trust not to collude with the other; it never transacts).
MODEL_OWNER, CLINIC, DEALER = 7, 8, 9
DEALER_ORG = "trusted-dealer"
PRICE_PER_ROW = 10**15  # 0.001 token per prediction
MAX_ROWS = 500


def _models() -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
    """(name, fitted model, buyer's rows, their true labels) for both datasets."""
    out = []
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=300, random_state=0)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out.append(("digits MLP 64-32-10", mlp.fit(x_train / 16.0, y_train), x_test / 16.0, y_test))
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=120, random_state=0)
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    out.append(("breast-cancer LR", lr.fit(x_train, y_train), x_test, y_test))
    return out


def run_inference_demo(market: Marketplace, console: Console, endpoints: Endpoints) -> dict:
    """Run the private-inference demo (see the module docstring); returns its summary."""
    accounts = dev_accounts(DEALER + 1)
    owner, buyer, dealer = accounts[MODEL_OWNER], accounts[CLINIC], accounts[DEALER]
    start_block = market.w3.eth.block_number
    models = _models()
    published = []
    for name, model, _, _ in models:
        publication, offer = publish_model(
            market,
            owner,
            model,
            name=name,
            description=f"{name}: private predictions, priced per row",
            price_per_row=PRICE_PER_ROW,
            max_rows=MAX_ROWS,
            dealers=[dealer.address],
        )
        published.append((publication.asset_id, offer))
    total = sum(offer.asset_price for _, offer in published)
    if market.token.balance_of(buyer.address) < total:
        market.token.mint(signer(market.w3, OPERATOR), buyer.address, total)
    workdir = Path(tempfile.mkdtemp(prefix="insitu-demo-inference-"))
    config = write_owner_config(
        workdir,
        "skin-ai-vendor",
        owner,
        {asset: model for (asset, _), (_, model, _, _) in zip(published, models, strict=True)},
        rpc_url=endpoints.rpc_url,
        redis_url=endpoints.redis_url,
        ipfs_url=endpoints.ipfs_url,
        escrow=market.escrow.address,
        dealers={dealer.address: queue_name(DEALER_ORG)},
        start_block=start_block,
    )
    dealer_config = write_dealer_config(
        workdir,
        DEALER_ORG,
        dealer,
        rpc_url=endpoints.rpc_url,
        redis_url=endpoints.redis_url,
        ipfs_url=endpoints.ipfs_url,
        escrow=market.escrow.address,
    )
    summary: dict[str, Any] = {"models": [], "dealer": dealer.address}
    workers = owner_workers([config, dealer_config], endpoints.ipfs_store_dir.parent)
    try:
        with console.status("starting the model owner's inference worker and the dealer's…"):
            workers.start()
        for (asset, offer), (name, model, rows, truth) in zip(published, models, strict=True):
            started = time.perf_counter()
            with console.status(f"private predictions with {name}…"):
                sale = buy_predictions(market, buyer, asset, rows, "labels", timeout=60)
            plain = model.predict(rows)
            summary["models"].append(
                {
                    "model": name,
                    "asset": "0x" + asset.hex(),
                    "agreement": "0x" + sale.agreement_id.hex(),
                    "rows": sale.rows,
                    "private_accuracy": float(np.mean(sale.predictions == truth)),
                    "plaintext_accuracy": float(np.mean(plain == truth)),
                    "identical_to_plaintext": bool(np.array_equal(sale.predictions, plain)),
                    "seconds": time.perf_counter() - started,
                    "online_seconds": sale.online_seconds,
                    "dealer_seconds": sale.dealer_seconds,
                    "bytes_exchanged": sale.bytes_exchanged,
                    "escrowed": sale.escrowed,
                    "paid": sale.paid,
                    "refund": sale.refund,
                    "price_per_row": offer.price_per_row,
                    "transactions": sale.transactions,
                }
            )
    finally:
        workers.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    console.print(_table(summary["models"]))
    return summary


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Private inference: neither the rows nor the weights leave their owner")
    for column in ("model", "rows", "accuracy (private / plaintext)", "time", "bytes",
                   "paid", "refunded"):  # fmt: skip
        table.add_column(column)
    for r in rows:
        same = "identical" if r["identical_to_plaintext"] else "DIFFERENT"
        table.add_row(
            r["model"],
            str(r["rows"]),
            f"{r['private_accuracy']:.4f} / {r['plaintext_accuracy']:.4f} ({same})",
            f"{r['seconds']:.2f} s (online {r['online_seconds'] * 1000:.0f} ms, dealer "
            f"{r['dealer_seconds'] * 1000:.0f} ms)",
            f"{r['bytes_exchanged'] / 1e6:.2f} MB",
            f"{r['paid'] / 1e18:.4f} tok",
            f"{r['refund'] / 1e18:.4f} tok",
        )
    return table
