"""Small card-transaction-like data in schema and local encodings for the synth tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insitu.synth.schema import Column, LocalColumn, LocalMapping, Schema

MERCHANTS = ("grocery", "travel", "electronics", "other")


def card_schema() -> Schema:
    """Amount in EUR (log bins), hour, temperature of the terminal in °C, merchant, label."""
    return Schema(
        "card_txn_test",
        (
            Column("amount", "numeric", unit="EUR", lower=0.0, upper=5000.0, log_scale=True),
            Column("hour", "numeric", unit="h", lower=0.0, upper=23.0),
            Column("temp", "numeric", unit="°C", lower=-30.0, upper=50.0),
            Column("merchant", "categorical", categories=MERCHANTS),
            Column("fraud", "label", categories=(0, 1)),
        ),
    )


def make_rows(n: int, rng: np.random.Generator, fraud_rate: float = 0.2) -> pd.DataFrame:
    """Rows in schema encoding; fraud: larger amounts, night hours, electronics."""
    y = (rng.random(n) < fraud_rate).astype(int)
    amount = np.round(np.where(y, rng.lognormal(5.5, 0.6, n), rng.lognormal(3.3, 0.8, n)), 2)
    hour = np.where(y, rng.integers(0, 6, n), np.clip(np.rint(rng.normal(14, 4, n)), 0, 23))
    temp = np.round(rng.normal(15, 8, n) + 3 * y, 1)
    merchant = np.where(
        y,
        rng.choice(MERCHANTS, n, p=[0.1, 0.2, 0.6, 0.1]),
        rng.choice(MERCHANTS, n, p=[0.5, 0.1, 0.1, 0.3]),
    )
    return pd.DataFrame(
        {
            "amount": amount,
            "hour": hour.astype(float),
            "temp": temp,
            "merchant": merchant,
            "fraud": y,
        }
    )


def cents_fahrenheit_mapping() -> LocalMapping:
    """A bank with its own names, cents, °F and numeric merchant codes, labels 'F'/'N'."""
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


@pytest.fixture
def schema() -> Schema:
    return card_schema()


@pytest.fixture
def mapping() -> LocalMapping:
    return cents_fahrenheit_mapping()
