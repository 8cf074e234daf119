"""Benchmark of federated sessions end to end: the demo on real processes, and Shapley accuracy.

Run: ``.venv/bin/python bench/federated.py``; writes ``bench/results/federated.md``.

(a) The fraud demo (4 banks, real anvil + Redis + Celery workers): federated vs centralised vs
    mean single-bank test AUC, the noisy-label bank's rank and payout, gas per session step, and
    the demo's wall time per phase.
(b) Shapley accuracy for n = 10 participants against exact Shapley, versus the number of
    utility evaluations: TMC (the core's), the stratified estimator of
    ``insitu.fl.shapley_sampling`` and GTG-Shapley; synthetic fraud and scikit-learn's bundled
    breast-cancer data split non-IID (real data, offline).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.console import Console
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).parent))
from federated_core import (
    CLASSES,
    fraud_pipeline,
    plain_pipeline,
    prepare_template,
    run_fedavg,
)

from insitu.config import LocalStackSettings, Settings
from insitu.demo.fraud import run_fraud_demo
from insitu.federated.data import breast_cancer_split, synthetic_fraud
from insitu.federated.valuation import (
    CachedUtility,
    FederatedGame,
    exact_shapley,
    gtg_shapley,
    tmc_shapley,
)
from insitu.fl.shapley_sampling import stratified_shapley
from insitu.stack.ports import free_port

OUT = Path(__file__).parent / "results" / "federated.md"
SEEDS = 10
BUDGETS = (64, 128, 256)


def part_a(lines: list[str]) -> None:
    """The demo on real processes."""
    with tempfile.TemporaryDirectory(prefix="insitu-bench-fl-") as tmp:
        home = Path(tmp) / "home"
        settings = Settings(
            home=home, local=LocalStackSettings(anvil_port=free_port(), redis_port=free_port())
        )
        t0 = time.perf_counter()
        report = run_fraud_demo(
            settings, Console(quiet=True), banks=4, rounds=5, reports_dir=Path(tmp) / "reports"
        )
        wall = time.perf_counter() - t0
        result = json.loads((report.parent / "result.json").read_text())
    banks = result["banks"]
    mean_alone = statistics.mean(b["alone_auc"] for b in banks)
    fed, central = result["federated_auc"], result["centralised_auc"]
    by_value = sorted(banks, key=lambda b: b["shapley"])
    paid = {b["name"]: b["price"] + b["reward"] for b in banks}
    hash_ok = result["report_hash"] == result["report_hash_onchain"]
    noisy = banks[-1]["name"]  # synthetic_fraud's noisy bank is the last one
    gas: dict[str, list[int]] = defaultdict(list)
    for _, action, _, g in result["transactions"]:
        gas[action.split(" round")[0].split(" for ")[0]].append(g)
    lines += [
        "## (a) The fraud demo on real processes (4 banks, 5 rounds, FedAvg)",
        "",
        f"Data: {result['data_description']} (SYNTHETIC)",
        "",
        "| model | test ROC AUC |",
        "|---|---|",
        *[f"| {b['name']} alone | {b['alone_auc']:.4f} |" for b in banks],
        f"| mean single bank | {mean_alone:.4f} |",
        f"| **federated (session on the workers)** | **{fed:.4f}** |",
        f"| centralised (pooled) | {central:.4f} |",
        "",
        f"- federated − centralised = {fed - central:+.4f} (target: within ±0.01: "
        f"{'met' if abs(fed - central) <= 0.01 else 'NOT met'})",
        f"- federated − mean single bank = {fed - mean_alone:+.4f} (target ≥ +0.05: "
        f"{'met' if fed - mean_alone >= 0.05 else 'NOT met'})",
        f"- AUC per round: {', '.join(f'{a:.4f}' for a in result['round_aucs'])}",
        f"- valuation: {result['valuation_method']}; Shapley by bank: "
        + ", ".join(f"{b['name']} {b['shapley']:+.4f}" for b in banks),
        f"- ranked last: {by_value[0]['name']}; paid least: {min(paid, key=paid.__getitem__)} "
        f"(noisy-label bank: {noisy}); the harmful flag is "
        + ", ".join(b["name"] for b in banks if b["harmful"]),
        f"- report hash on-chain matches IPFS: {hash_ok}",
        "",
        "Gas per session step (from the receipts of this run):",
        "",
        "| step | transactions | gas (mean) | gas (min–max) |",
        "|---|---|---|---|",
        *[
            f"| {step} | {len(v)} | {statistics.mean(v):,.0f} | {min(v):,}–{max(v):,} |"
            for step, v in gas.items()
        ],
        "",
        "Wall time per phase of the demo:",
        "",
        "| phase | seconds |",
        "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in result["phases"].items()],
        f"| **whole demo (run_fraud_demo, incl. stack start/stop)** | **{wall:.1f}** |",
        "",
    ]


def _rel(est: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(est - ref) / np.linalg.norm(ref))


def accuracy(lines: list[str], title: str, game: FederatedGame) -> None:
    """Error of each estimator against exact Shapley, by utility-evaluation budget."""
    n = game.n
    exact = exact_shapley(game.utility, n)
    table = dict(game.utility.table)
    lines += [
        f"## {title}",
        "",
        f"n = {n}, {len(game.rounds)} rounds, 2^n = {1 << n} coalitions; means over {SEEDS} "
        "seeds. Relative L2 error ‖φ̂ − φ‖/‖φ‖ against exact Shapley; Spearman ρ of the ranking.",
        "",
        "| estimator | budget | evaluations (mean) | % of 2^n | rel. L2 error | Spearman ρ |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("stratified", "tmc"):
        for budget in BUDGETS:
            errs, rhos, evals = [], [], []
            for seed in range(SEEDS):
                util = CachedUtility(table.__getitem__)
                if name == "tmc":
                    est, _ = tmc_shapley(util, n, max_evaluations=budget, tolerance=0.01, seed=seed)
                else:
                    est, _ = stratified_shapley(util, n, max_evaluations=budget, seed=seed)
                errs.append(_rel(est, exact))
                rhos.append(spearmanr(est, exact).statistic)
                evals.append(util.evaluations)
            label = "**stratified (insitu.fl)**" if name == "stratified" else "TMC (core)"
            lines.append(
                f"| {label} | {budget} | {np.mean(evals):.0f} | "
                f"{100 * np.mean(evals) / (1 << n):.1f} % | {np.mean(errs):.3f} | "
                f"{np.mean(rhos):.3f} |"
            )
    for perms in (10, 20):
        errs, rhos, evals = [], [], []
        for seed in range(min(SEEDS, 3)):
            utils = [game.round_utility(t) for t in range(len(game.rounds))]
            est, _ = gtg_shapley(utils, n, permutations_per_round=perms, seed=seed)
            errs.append(_rel(est, exact))
            rhos.append(spearmanr(est, exact).statistic)
            evals.append(sum(u.evaluations for u in utils))
        lines.append(
            f"| GTG (core) | {perms} perms/round | {np.mean(evals):.0f} | "
            f"{100 * np.mean(evals) / (1 << n):.1f} % | {np.mean(errs):.3f} | {np.mean(rhos):.3f} |"
        )
    lines += ["", f"- exact: {', '.join(f'{v:+.4f}' for v in exact)}", ""]


def part_b(lines: list[str]) -> None:
    ds = synthetic_fraud(n_banks=10, rows_per_bank=6000, validation_rows=5000, seed=1)
    template = prepare_template(fraud_pipeline(), ds)
    records, _, _ = run_fedavg(template, ds, rounds=5, lr=0.5)
    X_val, y_val = ds.xy(ds.validation)
    game = FederatedGame(records, template, CLASSES, X_val, y_val, n_participants=10)
    accuracy(lines, "(b) Shapley accuracy, synthetic fraud, 10 banks", game)


def part_c(lines: list[str]) -> None:
    ds = breast_cancer_split(n_participants=10, alpha=0.5, seed=0)
    template = prepare_template(plain_pipeline(), ds)
    records, _, aucs = run_fedavg(template, ds, rounds=5, lr=0.3)
    X_val, y_val = ds.xy(ds.validation)
    game = FederatedGame(records, template, CLASSES, X_val, y_val, n_participants=10)
    lines.append(
        f"Breast cancer ({ds.description}) sizes {[len(d) for d in ds.participants.values()]}, "
        f"federated test AUC {aucs[-1]:.4f}."
    )
    lines.append("")
    accuracy(lines, "(c) Shapley accuracy, breast cancer (real), 10 hospitals non-IID", game)


def main() -> int:
    t0 = time.perf_counter()
    lines = [
        "# Federated sessions benchmark",
        "",
        "Generated by `bench/federated.py` on this machine (2 cores). Part (a) runs the whole "
        "demo (`insitu fl demo`) on real processes; (b) and (c) measure the Shapley estimators "
        "on utility tables of real federated runs. The fraud data is SYNTHETIC.",
        "",
    ]
    part_a(lines)
    part_b(lines)
    part_c(lines)
    lines.append(f"Benchmark wall time: {time.perf_counter() - t0:.1f} s.")
    text = "\n".join(lines) + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
