"""Nothing a provider publishes contains one of its raw rows' values."""

from __future__ import annotations

import numpy as np

from insitu.synth.api import fit_contribution
from insitu.synth.schema import LocalColumn, LocalMapping, Schema

from .conftest import make_rows

CANARY_AMOUNTS = (1234.5678901, 777.0123456, 4321.9876543)
CANARY_TEMPS = (-12.3456789, 41.0987654)
CANARY_CODE = "zz-canary-7f3a9c"


def test_published_bytes_hold_no_raw_value(schema: Schema) -> None:
    rows = make_rows(1000, np.random.default_rng(9))
    for i, value in enumerate(CANARY_AMOUNTS):
        rows.loc[i, "amount"] = value
    for i, value in enumerate(CANARY_TEMPS):
        rows.loc[10 + i, "temp"] = value
    # This participant codes "other" merchants with a private code: it must not leak either.
    codes = {"grocery": "grocery", "travel": "travel", "electronics": "electronics"}
    codes[CANARY_CODE] = "other"
    mapping = LocalMapping(
        tuple(
            LocalColumn(c.name, c.name, codes=codes if c.name == "merchant" else None)
            if c.kind != "label"
            else LocalColumn(c.name, c.name, codes={0: 0, 1: 1})
            for c in schema.columns
        )
    )
    local = rows.assign(merchant=rows["merchant"].replace({"other": CANARY_CODE}))
    for epsilon in (1.0, 8.0, None):
        published = fit_contribution(local, mapping, schema, epsilon, seed=3).to_json()
        text = published.decode()
        assert CANARY_CODE not in text
        for value in (*CANARY_AMOUNTS, *CANARY_TEMPS):
            for rendering in (repr(value), f"{value:.6f}", f"{value:.4f}"):
                assert rendering not in text, (epsilon, rendering)
        # No numeric value of any row appears with its full precision either.
        raw = {repr(float(v)) for v in rows["amount"] if len(repr(float(v))) > 6}
        assert not [r for r in raw if r in text]
