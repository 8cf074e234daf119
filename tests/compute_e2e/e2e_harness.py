"""Helpers of the compute-to-data end-to-end tests: private data with canaries, test
algorithms, provider worker configs, and waiting with the workers' logs on failure."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import redis
from eth_account.signers.local import LocalAccount
from web3.exceptions import Web3RPCError

from insitu.chain import AgreementStatus, save_keystore
from insitu.compute.buyer import AlgorithmPublication
from insitu.config import Settings
from insitu.market import Marketplace
from insitu.stack import LocalStack
from insitu.worker import JobStore, WorkerUnit

VISIBILITY_TIMEOUT = 4
PRICE = 10**18
KEYSTORE_PASSWORD_ENV = "INSITU_E2E_PROVIDER_PASSWORD"

#: Unique values planted in the private data; none may appear in anything a worker publishes.
STRING_CANARIES = tuple(f"CANARY-{i:03d}-q7Zx" for i in range(40))
NUMBER_CANARIES = tuple(918273.5 + 17.25 * i for i in range(40))
SHIPMENT_CANARIES = tuple(f"SHIPCANARY-{i:03d}-Hk2p" for i in range(30))


def bank_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A learnable fraud-like table with a canary string column and canary amounts."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    label = (x[:, 0] + 0.5 * x[:, 1] + 0.2 * rng.normal(size=n) > 0).astype(int)
    amount = rng.normal(100, 20, size=n)
    amount[: len(NUMBER_CANARIES)] = NUMBER_CANARIES
    refs = [STRING_CANARIES[i % len(STRING_CANARIES)] + f"-{i}" for i in range(n)]
    refs[: len(STRING_CANARIES)] = STRING_CANARIES
    return pd.DataFrame(
        {
            "customer_ref": refs,
            "f0": x[:, 0],
            "f1": x[:, 1],
            "f2": x[:, 2],
            "amount": amount,
            "label": label,
        }
    )


def shipments_frame(
    n_shipments: int, n_flagged: int, n_warm: int, seed: int, id_prefix: str
) -> pd.DataFrame:
    """Temperature readings: ``n_flagged`` of ``n_shipments`` leave 2–8 °C (``n_warm`` warm)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_shipments):
        ship = SHIPMENT_CANARIES[s] if s < len(SHIPMENT_CANARIES) else f"{id_prefix}-{s}"
        temps = rng.uniform(3.0, 7.0, size=5)
        if s < n_flagged:
            temps[2] = 11.5 if s < n_warm else -1.5
        rows += [{"shipment_id": f"{id_prefix}{ship}", "temperature_c": float(t)} for t in temps]
    return pd.DataFrame(rows)


def write_algorithm(
    folder: Path, name: str, body: str, parameters: dict[str, Any] | None = None
) -> Path:
    """A one-module algorithm package whose ``run(ctx)`` body is ``body``."""
    folder.mkdir(parents=True)
    manifest = {
        "name": name,
        "version": "1",
        "entry_point": f"{name}:run",
        "parameters": parameters or {"type": "object"},
        "outputs": [],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    code = "import json, os, time\n\n\ndef run(ctx):\n"
    (folder / f"{name}.py").write_text(code + textwrap.indent(textwrap.dedent(body), "    "))
    return folder


#: Test algorithms: name -> run(ctx) body.
TEST_ALGORITHMS = {
    "crash": "raise RuntimeError('the algorithm fell over')\n",
    "hog": "blob = bytearray(6 * 1024**3)\nctx.write_json('x.json', len(blob))\n",
    "bloat": "(ctx.output_dir / 'big.bin').write_bytes(os.urandom(3 * 1024 * 1024))\n",
    "slow": "time.sleep(3)\nctx.write_json('slow.json', {'slept': 3})\n",
}


def write_worker_config(
    path: Path,
    *,
    organisation: str,
    rpc_url: str,
    redis_url: str,
    escrow: str,
    keystore: Path,
    provider: str,
    assets: dict[str, Path],
    concurrency: int = 2,
    limits: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> Path:
    """A compute worker config (TOML) for the tests."""
    values = {
        "organisation": organisation,
        "app": "insitu.compute.worker_app",
        "rpc_url": rpc_url,
        "redis_url": redis_url,
        "poll_interval": 0.1,
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "concurrency": concurrency,
        "pool": "prefork",
    }
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    lines += [
        "",
        "[keystore]",
        f"path = {json.dumps(str(keystore))}",
        f'password_env = "{KEYSTORE_PASSWORD_ENV}"',
        "",
        "[contracts]",
        f'AgreementEscrow = "{escrow}"',
        "",
        "[options]",
        f'provider_address = "{provider}"',
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in (options or {}).items()]
    lines += ["", "[options.limits]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in (limits or {}).items()]
    for asset, data in assets.items():
        lines += ["", f'[assets."{asset}"]', f"data = {json.dumps(str(data))}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_keystore(account: LocalAccount, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_keystore(account, path, "e2e-password")


@dataclass
class E2E:
    """Everything the end-to-end tests touch."""

    stack: LocalStack
    settings: Settings
    market: Marketplace
    redis: redis.Redis
    store: JobStore
    operator: LocalAccount
    provider: LocalAccount
    provider_b: LocalAccount
    consumer: LocalAccount
    relayer: LocalAccount
    unit: WorkerUnit
    algorithms: dict[str, AlgorithmPublication]
    datasets: dict[str, bytes]
    data_files: dict[str, Path]
    rpc_url: str
    redis_url: str
    home: Path
    extra_units: list[WorkerUnit] = field(default_factory=list)

    def status(self, agreement: bytes) -> AgreementStatus:
        for _ in range(20):
            try:
                return self.market.escrow.status(agreement)
            except Web3RPCError:  # anvil --prune-history: a call racing a new block
                time.sleep(0.05)
        return self.market.escrow.status(agreement)

    def wait_settled(
        self, agreements: list[bytes], timeout: float = 90.0, units: list[WorkerUnit] | None = None
    ) -> None:
        def settled(agreement: bytes) -> bool:
            # Settled on-chain and the job recorded done/failed (a few ms after the fulfil).
            record = self.store.get("0x" + agreement.hex())
            return (
                self.status(agreement) is not AgreementStatus.LOCKED
                and record is not None
                and record.state.terminal
            )

        wait_for(
            lambda: all(settled(a) for a in agreements),
            timeout,
            lambda: {
                a.hex()[:10]: (self.status(a).name, self.store.get("0x" + a.hex()))
                for a in agreements
            },
            units or [self.unit, *self.extra_units],
        )

    def events(self, name: str, agreement: bytes) -> list[Any]:
        event = getattr(self.market.escrow.contract.events, name)
        return list(event().get_logs(from_block=0, argument_filters={"agreementId": agreement}))


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    describe: Callable[[], object] | None = None,
    units: list[WorkerUnit] | None = None,
) -> None:
    """Poll ``condition`` every 50 ms; on timeout fail with its description and the logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    logs = ""
    for unit in units or []:
        logs += "\n".join(
            f"--- {unit.config.organisation} {p} ---\n{unit.log_tail(p, 60)}"
            for p in ("listener", "celery")
        )
    pytest.fail(f"condition not met within {timeout} s: {describe() if describe else ''}\n{logs}")
