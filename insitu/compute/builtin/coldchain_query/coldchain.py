"""Cold-chain excursions: how many shipments had a temperature reading outside [low, high].

Rows are temperature readings; a shipment (rows sharing `shipment_column`, or each row when it
is null) is flagged if any reading is outside the band. The result is four counts, in this
order: shipments, flagged, flagged too warm, flagged too cold.

Federated use: the provider's worker passes `provider_inputs = {"mask": [m0, m1, m2, m3],
"session": "0x..."}` from `insitu.compute.secure_sum.provider_mask`; each count is then
published as (count + mask) mod 2^64, the masks of all providers cancel in the sum, and the
consumer learns only the combined counts (`secure_sum.combine`). The flagged shipment ids are
written to the provider-local folder and never leave the provider: ids would reveal which
carrier each excursion belongs to, and the provider is who acts on the flags.
"""

from typing import Any

MODULUS = 2**64
FIELDS = ("n_shipments", "n_flagged", "n_too_warm", "n_too_cold")


def run(ctx: Any) -> None:
    """Entry point: write result.json (counts, masked if a mask is given) and local flags."""
    p = ctx.params
    temp_col = p.get("temperature_column", "temperature_c")
    ship_col = p.get("shipment_column", "shipment_id")
    low, high = p.get("low", 2.0), p.get("high", 8.0)
    if low >= high:
        ctx.reject("BAD_PARAMS", f"low ({low}) must be below high ({high})")
    frame = ctx.read_table(required_columns=(temp_col,) + ((ship_col,) if ship_col else ()))
    temps = frame[temp_col].astype(float)
    keys = (
        frame[ship_col].astype(str)
        if ship_col
        else frame.index.astype(str).to_series(index=frame.index)
    )
    per_shipment = temps.groupby(keys).agg(["min", "max"])
    too_warm = per_shipment["max"] > high
    too_cold = per_shipment["min"] < low
    flagged = too_warm | too_cold
    counts = [len(per_shipment), int(flagged.sum()), int(too_warm.sum()), int(too_cold.sum())]

    mask = ctx.provider_inputs.get("mask")
    if mask is not None:
        if len(mask) != len(FIELDS):
            ctx.reject(
                "BAD_PARAMS",
                f"secure-sum mask has {len(mask)} values, need "
                f"{len(FIELDS)}: the worker derived it for a different query",
            )
        values = [(c + int(m)) % MODULUS for c, m in zip(counts, mask, strict=True)]
    else:
        values = counts
    ctx.write_json(
        "result.json",
        {
            "query": "coldchain_query",
            "fields": list(FIELDS),
            "values": values,
            "masked": mask is not None,
            "session": ctx.provider_inputs.get("session"),
            "band": [low, high],
        },
    )
    flags = per_shipment[flagged].assign(too_warm=too_warm[flagged], too_cold=too_cold[flagged])
    flags.index.name = ship_col or "row"
    flags.to_csv(ctx.local_dir / "flagged_shipments.csv")
