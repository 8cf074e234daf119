"""Descriptive statistics with a minimum group size k.

Disclosure rules: a category (or a `group_by` group) with fewer than k rows is suppressed and
only the number of suppressed categories is reported; numeric statistics are computed only
over at least k non-missing values. `min`/`max` are single rows' values, so they are reported
only when the consumer asks for `extremes` (the provider decides by allowlisting this package
with that in mind); quantiles are interpolated. Known residual risk: the total row count minus
the shown category counts gives the number of rows in suppressed categories, not their values.
"""

from typing import Any

SUPPRESSED = "suppressed"


def _numeric(series: Any, k: int, quantiles: list[float], extremes: bool) -> dict[str, Any]:
    values = series.dropna()
    if len(values) < k:
        return {"count": SUPPRESSED}
    stats: dict[str, Any] = {
        "count": len(values),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)),
    }
    for q in quantiles:
        stats[f"q{q:g}"] = float(values.quantile(q))
    if extremes:
        stats["min"], stats["max"] = float(values.min()), float(values.max())
    return stats


def _categorical(series: Any, k: int) -> dict[str, Any]:
    counts = series.dropna().astype(str).value_counts()
    shown = {str(v): int(c) for v, c in counts.items() if c >= k}
    return {"counts": dict(sorted(shown.items())), "suppressed_categories": int((counts < k).sum())}


def _describe(frame: Any, k: int, quantiles: list[float], extremes: bool) -> dict[str, Any]:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if len(frame) < k:
        return {"n_rows": SUPPRESSED}
    numeric, categorical = {}, {}
    for column in frame.columns:
        series = frame[column]
        if is_numeric_dtype(series) and not is_bool_dtype(series):
            numeric[str(column)] = _numeric(series, k, quantiles, extremes)
        else:
            categorical[str(column)] = _categorical(series, k)
    return {"n_rows": len(frame), "numeric": numeric, "categorical": categorical}


def run(ctx: Any) -> None:
    """Entry point: write stats.json for the whole table and, optionally, per group."""
    p = ctx.params
    k = p.get("k", 10)
    quantiles = p.get("quantiles", [0.25, 0.5, 0.75])
    extremes = p.get("extremes", False)
    group_by = p.get("group_by")
    columns = p.get("columns")
    required = tuple(columns or ()) + ((group_by,) if group_by else ())
    frame = ctx.read_table(required_columns=required)
    if columns:
        frame = frame[list(dict.fromkeys([*columns, *([group_by] if group_by else [])]))]
    stats: dict[str, Any] = {"k": k, "overall": _describe(frame, k, quantiles, extremes)}
    if group_by:
        groups, suppressed = {}, 0
        for key, group in frame.groupby(group_by, dropna=True):
            if len(group) < k:
                suppressed += 1
                continue
            groups[str(key)] = _describe(group.drop(columns=[group_by]), k, quantiles, extremes)
        stats["groups"] = {"by": group_by, "values": groups, "suppressed_groups": suppressed}
    ctx.write_json("stats.json", stats)
