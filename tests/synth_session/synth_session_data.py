"""Test data of generator sessions: the demo's card transactions plus planted canaries.

Each honest provider sees mostly one fraud pattern (large amounts; night hours; electronics), so
the validation set (all three patterns) is served best by combining them. Canaries (values with
many significant digits) are planted in the providers' private rows.
"""

from __future__ import annotations

import pandas as pd

from insitu.demo.synth_step import cents_mapping
from insitu.demo.synth_step import demo_rows as make_rows
from insitu.demo.synth_step import demo_schema as card_schema
from insitu.synth.schema import LocalMapping

#: Planted in the private rows (local encoding); none may appear in anything published.
CANARY_AMOUNTS = (1234.5678901, 777.01234567, 4321.9876543)
CANARY_TEMP = -12.3456789
CANARY_CENTS = 3141592653

__all__ = ["card_schema", "cents_mapping", "make_rows", "plant_canaries"]


def plant_canaries(local: pd.DataFrame, mapping: LocalMapping) -> pd.DataFrame:
    """Put the canaries into a provider's rows (in its local encoding)."""
    out = local.copy()
    names = {c.schema_name: c.local_name for c in mapping.columns}
    if names["amount"] == "amount":
        for i, value in enumerate(CANARY_AMOUNTS):
            out.loc[i, "amount"] = value
        out.loc[5, "temp"] = CANARY_TEMP
    else:
        out.loc[0, names["amount"]] = CANARY_CENTS
    return out
