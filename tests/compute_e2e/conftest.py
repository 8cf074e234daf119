"""The compute-to-data stack for the end-to-end tests: REAL anvil, Redis, Celery worker and
listener processes, the embedded IPFS store, contracts deployed, algorithms and datasets
published. One stack and one provider worker serve the whole session (starting them costs
seconds); tests that kill a piece bring it back before they end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from e2e_harness import (
    E2E,
    KEYSTORE_PASSWORD_ENV,
    PRICE,
    TEST_ALGORITHMS,
    bank_frame,
    make_keystore,
    shipments_frame,
    write_algorithm,
    write_worker_config,
)

from insitu.chain import AccessMode, connect, deploy_all, dev_accounts, save_deployment
from insitu.compute.builtin import builtin_path
from insitu.compute.buyer import AlgorithmPublication, publish_algorithm
from insitu.compute.readiness import wait_until_warm
from insitu.config import LocalStackSettings, Settings
from insitu.crypto.ecies import public_key_from_private
from insitu.market import Marketplace, deployment_path
from insitu.stack import LocalStack
from insitu.stack.ports import free_port
from insitu.storage import EmbeddedStore
from insitu.worker import JobStore, WorkerUnit, load_worker_config

#: The datasets provider A serves: name -> (access mode, algorithms allowed).
DATASETS = {
    "bank": (
        AccessMode.COMPUTE_ONLY,
        ("sklearn_train", "describe", "crash", "hog", "bloat", "slow", "tampered"),
    ),
    # Download mode: creation does not check the allowlist, so the worker's own check is hit.
    "open_bank": (AccessMode.DOWNLOAD, ()),
    "vanishing": (AccessMode.COMPUTE_ONLY, ("describe",)),
    "carrier_a": (AccessMode.COMPUTE_ONLY, ("coldchain_query",)),
}


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    home = tmp_path_factory.mktemp("e2e-home")
    settings = Settings(
        home=home, local=LocalStackSettings(anvil_port=free_port(), redis_port=free_port())
    )
    saved_env = {k: os.environ.get(k) for k in ("INSITU_HOME", KEYSTORE_PASSWORD_ENV)}
    # The worker processes resolve the embedded IPFS store from INSITU_HOME.
    os.environ["INSITU_HOME"] = str(home)
    os.environ[KEYSTORE_PASSWORD_ENV] = "e2e-password"
    # persist_state: the restart tests need the queue (Redis AOF) and the chain to survive.
    stack = LocalStack(settings, persist_state=True)
    endpoints = stack.up()
    unit: WorkerUnit | None = None
    try:
        w3 = connect(endpoints.rpc_url)
        operator, provider, provider_b, consumer, relayer = (
            dev_accounts(6)[i] for i in (0, 1, 2, 3, 5)
        )
        deployment = deploy_all(w3, operator)
        # Saved where the CLI (Marketplace.connect) looks for it.
        save_deployment(deployment, deployment_path(settings, deployment.chain_id))
        market = Marketplace(w3, deployment, EmbeddedStore(settings.ipfs_store_dir))
        market.token.mint(operator, consumer.address, 1000 * PRICE)

        algorithms = {
            name: publish_algorithm(market, operator, builtin_path(name))
            for name in ("sklearn_train", "describe", "coldchain_query")
        }
        for name, body in TEST_ALGORITHMS.items():
            algorithms[name] = publish_algorithm(
                market, operator, write_algorithm(home / "algorithms" / name, name, body)
            )
        # Metadata that declares one package hash but points at another package's bytes.
        tampered = market.publish(
            operator,
            {
                "name": "tampered",
                "kind": "algorithm",
                "description": "hash points elsewhere",
                "package_cid": algorithms["describe"].package_cid,
                "package_hash": algorithms["crash"].package_hash,
            },
            price=0,
            mode=AccessMode.DOWNLOAD,
        )
        algorithms["tampered"] = AlgorithmPublication(
            tampered, algorithms["crash"].package_hash, algorithms["describe"].package_cid
        )

        data_dir = home / "private"
        data_dir.mkdir()
        files = {
            "bank": data_dir / "bank" / "transactions.csv",
            "open_bank": data_dir / "open_bank" / "transactions.csv",
            "vanishing": data_dir / "vanishing" / "transactions.csv",
            "carrier_a": data_dir / "carrier_a" / "readings.csv",
            "carrier_b": data_dir / "carrier_b" / "readings.csv",
        }
        for name, path in files.items():
            path.parent.mkdir()
            if name.startswith("carrier"):
                frame = (
                    shipments_frame(40, 7, 4, 1, "A-")
                    if name == "carrier_a"
                    else shipments_frame(25, 5, 2, 2, "B-")
                )
            else:
                frame = bank_frame()
            frame.to_csv(path, index=False)

        datasets: dict[str, bytes] = {}
        for name, (mode, allowed) in DATASETS.items():
            extra = {"provider_public_key": "0x" + public_key_from_private(provider.key).hex()}
            pub = market.publish(
                provider,
                {"name": name, "kind": "dataset", "description": f"{name} (test)", "extra": extra},
                price=PRICE,
                mode=mode,
                algorithms=[algorithms[a].hash_bytes for a in allowed],
            )
            datasets[name] = pub.asset_id
        extra_b = {"provider_public_key": "0x" + public_key_from_private(provider_b.key).hex()}
        datasets["carrier_b"] = market.publish(
            provider_b,
            {"name": "carrier_b", "kind": "dataset", "description": "carrier B", "extra": extra_b},
            price=PRICE,
            mode=AccessMode.COMPUTE_ONLY,
            algorithms=[algorithms["coldchain_query"].hash_bytes],
        ).asset_id

        config_path = write_worker_config(
            home / "provider-a.toml",
            organisation="provider-a",
            rpc_url=endpoints.rpc_url,
            redis_url=endpoints.redis_url,
            escrow=deployment.escrow,
            keystore=make_keystore(provider, home / "keys" / "a.json"),
            provider=provider.address,
            assets={"0x" + datasets[n].hex(): files[n] for n in DATASETS},
            limits={"wall_seconds": 30, "memory_mb": 3072, "max_output_mb": 1},
        )
        unit = WorkerUnit(load_worker_config(config_path, settings), ready_timeout=60)
        unit.start()
        wait_until_warm(unit.config)
        client = redis.Redis.from_url(endpoints.redis_url)
        yield E2E(
            stack=stack,
            settings=settings,
            market=market,
            redis=client,
            store=JobStore(client),
            operator=operator,
            provider=provider,
            provider_b=provider_b,
            consumer=consumer,
            relayer=relayer,
            unit=unit,
            algorithms=algorithms,
            datasets=datasets,
            data_files=files,
            rpc_url=endpoints.rpc_url,
            redis_url=endpoints.redis_url,
            home=home,
        )
    finally:
        if unit is not None:
            unit.stop()
        stack.down()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def provider_b_unit(e2e: E2E) -> Iterator[WorkerUnit]:
    """Carrier B's own provider worker (its own key, queue and listener)."""
    config_path = write_worker_config(
        e2e.home / "provider-b.toml",
        organisation="provider-b",
        rpc_url=e2e.rpc_url,
        redis_url=e2e.redis_url,
        escrow=e2e.market.escrow.address,
        keystore=make_keystore(e2e.provider_b, e2e.home / "keys" / "b.json"),
        provider=e2e.provider_b.address,
        assets={"0x" + e2e.datasets["carrier_b"].hex(): e2e.data_files["carrier_b"]},
        concurrency=1,
    )
    unit = WorkerUnit(load_worker_config(config_path, e2e.settings), ready_timeout=60)
    unit.start()
    wait_until_warm(unit.config)
    e2e.extra_units.append(unit)
    try:
        yield unit
    finally:
        unit.stop()
        e2e.extra_units.remove(unit)
