"""Schema validation and the local mapping's exact round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from insitu.errors import InsituError
from insitu.synth.errors import SchemaError
from insitu.synth.schema import Column, LocalColumn, LocalMapping, Schema

from .conftest import MERCHANTS


def local_rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amt_cents": rng.integers(1, 500_000, n),
            "txn_hour": rng.integers(0, 24, n),
            "temp_f": np.round(rng.normal(59, 14, n), 1),
            "mcc": rng.choice([5411, 4511, 5732, 9999], n),
            "is_fraud": rng.choice(["N", "F"], n),
        }
    )


def test_round_trip_is_exact(schema: Schema, mapping: LocalMapping) -> None:
    local = local_rows(2000)
    in_schema = mapping.to_schema(local, schema)
    assert list(in_schema.columns) == schema.names
    assert in_schema["amount"].iloc[0] == pytest.approx(local["amt_cents"].iloc[0] / 100)
    assert in_schema["temp"].iloc[0] == pytest.approx((local["temp_f"].iloc[0] - 32) / 1.8)
    assert set(in_schema["merchant"]) <= set(MERCHANTS)
    assert set(in_schema["fraud"]) <= {0, 1}
    back = mapping.from_schema(in_schema, schema)
    pd.testing.assert_frame_equal(back, local)


def test_mapping_serialises(mapping: LocalMapping, schema: Schema) -> None:
    again = LocalMapping.from_dict(json.loads(json.dumps(mapping.to_dict())))
    assert again == mapping
    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema


def test_unknown_column_is_named(schema: Schema, mapping: LocalMapping) -> None:
    local = local_rows(10).assign(customer_name="x")
    with pytest.raises(SchemaError, match="customer_name"):
        mapping.to_schema(local, schema)


def test_unknown_code_is_named(schema: Schema, mapping: LocalMapping) -> None:
    local = local_rows(10)
    local.loc[3, "mcc"] = 1234
    with pytest.raises(SchemaError, match="1234"):
        mapping.to_schema(local, schema)


def test_mapping_must_cover_schema(schema: Schema) -> None:
    partial = LocalMapping((LocalColumn("amt", "amount"),))
    with pytest.raises(SchemaError, match="not mapped"):
        partial.check(schema)


def test_schema_errors_are_insitu_errors() -> None:
    with pytest.raises(InsituError, match="bounds"):
        Column("amount", "numeric")
    with pytest.raises(SchemaError, match="exactly one label"):
        Schema("s", (Column("x", "numeric", lower=0, upper=1),))
