"""Generator-session test fixtures: a real anvil + Redis, deployed contracts, four providers.

One stack serves the test session (starting it costs seconds). Providers 0-2 are honest (each
sees one fraud pattern); provider 3 flipped its labels. Provider 1 keeps its rows in its own
encoding (cents, °F, merchant codes, 'F'/'N' labels); so does the data scientist's validation set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from synth_session_data import card_schema, cents_mapping, make_rows, plant_canaries
from synth_session_harness import PRICE, ROWS, SynthEnv

from insitu.chain import AccessMode, connect, dev_accounts
from insitu.config import LocalStackSettings, Settings
from insitu.market import Marketplace, ensure_deployment
from insitu.stack import LocalStack
from insitu.stack.ports import free_port
from insitu.storage import open_store
from insitu.synth.schema import LocalMapping
from insitu.synthsession.sdk import publish_generator_template


def _write_mapping(path: Path, mapping: LocalMapping) -> Path:
    path.write_text(json.dumps(mapping.to_dict()))
    return path


@pytest.fixture(scope="session")
def synth_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynthEnv]:
    home = tmp_path_factory.mktemp("synth-home")
    settings = Settings(
        home=home, local=LocalStackSettings(anvil_port=free_port(), redis_port=free_port())
    )
    stack = LocalStack(settings)
    endpoints = stack.up()
    try:
        w3 = connect(endpoints.rpc_url)
        store = open_store(endpoints.ipfs_url, endpoints.ipfs_store_dir)
        operator, scientist, coordinator, *providers = dev_accounts(7)
        start_block = int(w3.eth.block_number)
        # Saved under the home, so that the CLI (INSITU_HOME=home) finds it.
        market = Marketplace(w3, ensure_deployment(w3, settings, operator)[0], store)
        schema = card_schema()
        template_cid, algorithm = publish_generator_template(store, schema)
        rng = np.random.default_rng(11)
        identity = LocalMapping.identity(schema)
        private = home / "private"
        csvs, mappings = [], []
        for i, pattern in enumerate((0, 1, 2, None)):
            rows = make_rows(ROWS, rng, pattern)
            if pattern is None:  # the flipped-label provider
                rows["fraud"] = 1 - rows["fraud"]
            mapping = cents_mapping() if i == 1 else identity
            local = plant_canaries(mapping.from_schema(rows, schema), mapping)
            folder = private / f"provider{i}"
            folder.mkdir(parents=True, mode=0o700)
            local.to_csv(folder / "rows.csv", index=False)
            csvs.append(folder / "rows.csv")
            mappings.append(_write_mapping(folder / "mapping.json", mapping))
        scientist_dir = private / "scientist"
        scientist_dir.mkdir(parents=True)
        validation_csv = scientist_dir / "validation.csv"
        cents_mapping().from_schema(make_rows(1500, rng, None), schema).to_csv(
            validation_csv, index=False
        )
        assets = [
            market.publish(
                p,
                {"name": f"provider {i}", "kind": "dataset", "description": "card transactions"},
                price=PRICE,
                mode=AccessMode.COMPUTE_ONLY,
                algorithms=[algorithm],
            ).asset_id
            for i, p in enumerate(providers)
        ]
        yield SynthEnv(
            settings=settings,
            endpoints=endpoints,
            w3=w3,
            market=market,
            token=market.token,
            operator=operator,
            scientist=scientist,
            coordinator=coordinator,
            providers=providers,
            assets=assets,
            csvs=csvs,
            mappings=mappings,
            schema=schema,
            validation_csv=validation_csv,
            validation_mapping=_write_mapping(scientist_dir / "mapping.json", cents_mapping()),
            template_cid=template_cid,
            algorithm=algorithm,
            start_block=start_block,
        )
    finally:
        stack.down()
