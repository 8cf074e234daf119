"""The shared schema of a kind of data, and each participant's mapping to and from it.

Participants describe the same facts differently: ``amount_cents`` versus ``amount`` in euros,
temperatures in °F versus °C, merchant categories coded ``5411`` versus ``"grocery"``. The
generators are fitted and combined in the schema's encoding only; a ``LocalMapping`` converts a
participant's frame into it (before fitting) and back (after sampling).

Numeric columns declare bounds: they are public, fixed before any data is seen, and are what
bounds the sensitivity of the released statistics (rows are clipped to them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from insitu.synth.errors import SchemaError

ColumnKind = Literal["numeric", "categorical", "label"]
Category = str | int
_KINDS: tuple[str, ...] = ("numeric", "categorical", "label")


@dataclass(frozen=True)
class Column:
    """One column of the shared schema.

    ``lower``/``upper`` are required for numeric columns (the clipping bounds). ``log_scale``
    puts the marginal's histogram bins evenly in ``log1p(x - lower)``, which suits heavy-tailed
    columns such as amounts. A label column is binary; ``categories[1]`` is the positive class.
    """

    name: str
    kind: ColumnKind
    unit: str | None = None
    categories: tuple[Category, ...] = ()
    lower: float | None = None
    upper: float | None = None
    log_scale: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise SchemaError(f"column {self.name!r}: kind {self.kind!r} is not one of {_KINDS}")
        object.__setattr__(self, "categories", tuple(self.categories))
        if self.kind == "numeric":
            if self.lower is None or self.upper is None:
                raise SchemaError(
                    f"numeric column {self.name!r} needs lower and upper bounds: declare them "
                    "from domain knowledge (they bound the DP sensitivity), not from the data"
                )
            if not (math.isfinite(self.lower) and math.isfinite(self.upper)) or not (
                self.lower < self.upper
            ):
                raise SchemaError(
                    f"numeric column {self.name!r}: bounds [{self.lower}, {self.upper}] must be "
                    "finite with lower < upper"
                )
        else:
            if len(set(self.categories)) != len(self.categories) or len(self.categories) < 2:
                raise SchemaError(
                    f"column {self.name!r} needs at least two distinct categories, "
                    f"got {list(self.categories)}"
                )
            if self.kind == "label" and len(self.categories) != 2:
                raise SchemaError(
                    f"label column {self.name!r} must be binary (negative, positive), "
                    f"got {list(self.categories)}"
                )

    @property
    def positive(self) -> Category:
        """The positive class of a label column."""
        return self.categories[1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description."""
        return {
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "categories": list(self.categories),
            "lower": self.lower,
            "upper": self.upper,
            "log_scale": self.log_scale,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Column:
        """Inverse of ``to_dict``."""
        return cls(
            name=data["name"],
            kind=data["kind"],
            unit=data.get("unit"),
            categories=tuple(data.get("categories", ())),
            lower=data.get("lower"),
            upper=data.get("upper"),
            log_scale=bool(data.get("log_scale", False)),
        )


@dataclass(frozen=True)
class Schema:
    """A named list of columns with exactly one binary label column."""

    name: str
    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SchemaError(f"schema {self.name!r}: duplicate column names {duplicates}")
        labels = [c.name for c in self.columns if c.kind == "label"]
        if len(labels) != 1:
            raise SchemaError(
                f"schema {self.name!r} needs exactly one label column, found {labels}"
            )
        if len(self.columns) < 2:
            raise SchemaError(f"schema {self.name!r} needs at least one feature column")

    @property
    def names(self) -> list[str]:
        """Column names in schema order."""
        return [c.name for c in self.columns]

    @property
    def label(self) -> Column:
        """The label column."""
        return next(c for c in self.columns if c.kind == "label")

    @property
    def features(self) -> list[Column]:
        """Every non-label column, in schema order."""
        return [c for c in self.columns if c.kind != "label"]

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise SchemaError(f"schema {self.name!r} has no column {name!r}; columns: {self.names}")

    def validate(self, df: pd.DataFrame) -> pd.DataFrame:
        """Check that ``df`` is in schema encoding; return it with columns in schema order.

        Numeric values outside the bounds are allowed here (the DP fit clips them); missing
        values are not, because the generator has no model of missingness.
        """
        missing = [n for n in self.names if n not in df.columns]
        extra = [str(c) for c in df.columns if c not in self.names]
        if missing or extra:
            raise SchemaError(
                f"frame does not match schema {self.name!r}: missing columns {missing}, "
                f"unknown columns {extra}; map local columns with LocalMapping.to_schema first"
            )
        for col in self.columns:
            values = df[col.name]
            if values.isna().any():
                raise SchemaError(
                    f"column {col.name!r} has missing values; impute or drop them before fitting"
                )
            if col.kind == "numeric":
                if not pd.api.types.is_numeric_dtype(values):
                    raise SchemaError(f"numeric column {col.name!r} holds non-numeric values")
                if not np.isfinite(values.to_numpy(dtype=float)).all():
                    raise SchemaError(f"numeric column {col.name!r} holds inf values")
            else:
                known = {str(c) for c in col.categories}
                unknown = sorted({str(v) for v in values.unique()} - known)
                if unknown:
                    raise SchemaError(
                        f"column {col.name!r} holds values {unknown[:10]} that are not among the "
                        f"schema's categories {list(col.categories)}"
                    )
        return df[self.names]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description."""
        return {"name": self.name, "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Inverse of ``to_dict``."""
        return cls(name=data["name"], columns=tuple(Column.from_dict(c) for c in data["columns"]))


@dataclass(frozen=True)
class LocalColumn:
    """How one local column encodes one schema column.

    Numeric: ``local = schema * scale + offset`` (cents: ``scale=100``; °F from °C:
    ``scale=1.8, offset=32``), rounded to ``decimals`` places when converting back, so that the
    local precision (whole cents, tenths of a degree) survives a round trip exactly; with
    ``decimals=0`` the local column is an integer column. Categorical and label: ``codes`` maps
    each local code to a schema category, one to one.
    """

    local_name: str
    schema_name: str
    scale: float = 1.0
    offset: float = 0.0
    decimals: int | None = None
    codes: Mapping[Category, Category] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.scale == 0 or not math.isfinite(self.scale) or not math.isfinite(self.offset):
            raise SchemaError(
                f"local column {self.local_name!r}: scale must be finite and non-zero, offset "
                "finite"
            )
        if self.codes is not None:
            codes = dict(self.codes)
            targets = list(codes.values())
            if len(set(targets)) != len(targets):
                raise SchemaError(
                    f"local column {self.local_name!r}: two local codes map to the same schema "
                    "category; codes must be one to one so sampling can map back"
                )
            object.__setattr__(self, "codes", codes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (codes as pairs: JSON keys would turn ints into str)."""
        return {
            "local_name": self.local_name,
            "schema_name": self.schema_name,
            "scale": self.scale,
            "offset": self.offset,
            "decimals": self.decimals,
            "codes": None if self.codes is None else [[k, v] for k, v in self.codes.items()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocalColumn:
        """Inverse of ``to_dict``."""
        codes = data.get("codes")
        return cls(
            local_name=data["local_name"],
            schema_name=data["schema_name"],
            scale=float(data.get("scale", 1.0)),
            offset=float(data.get("offset", 0.0)),
            decimals=data.get("decimals"),
            codes=None if codes is None else {k: v for k, v in codes},
        )


@dataclass(frozen=True)
class LocalMapping:
    """A participant's encoding of a schema: one ``LocalColumn`` per schema column."""

    columns: tuple[LocalColumn, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        for attr in ("local_name", "schema_name"):
            names = [getattr(c, attr) for c in self.columns]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise SchemaError(f"local mapping: duplicate {attr} {duplicates}")

    @classmethod
    def identity(cls, schema: Schema) -> LocalMapping:
        """The mapping of a participant that already uses the schema's encoding."""
        return cls(
            tuple(
                LocalColumn(
                    c.name,
                    c.name,
                    codes=None if c.kind == "numeric" else {k: k for k in c.categories},
                )
                for c in schema.columns
            )
        )

    @property
    def local_names(self) -> list[str]:
        """Local column names, in mapping order (the order ``from_schema`` returns)."""
        return [c.local_name for c in self.columns]

    def check(self, schema: Schema) -> None:
        """Raise ``SchemaError`` unless this mapping covers ``schema`` exactly and consistently."""
        mapped = [c.schema_name for c in self.columns]
        missing = [n for n in schema.names if n not in mapped]
        unknown = [n for n in mapped if n not in schema.names]
        if missing or unknown:
            raise SchemaError(
                f"local mapping vs schema {schema.name!r}: schema columns {missing} are not "
                f"mapped, mapped names {unknown} are not in the schema"
            )
        for local in self.columns:
            col = schema.column(local.schema_name)
            if col.kind == "numeric":
                if local.codes is not None:
                    raise SchemaError(
                        f"local column {local.local_name!r} maps numeric {col.name!r}: give "
                        "scale/offset, not codes"
                    )
                continue
            if local.codes is None:
                raise SchemaError(
                    f"local column {local.local_name!r} maps {col.kind} {col.name!r}: give codes "
                    "(local code -> schema category)"
                )
            targets = set(local.codes.values())
            stray = [v for v in targets if v not in col.categories]
            uncovered = [v for v in col.categories if v not in targets]
            if stray or uncovered:
                raise SchemaError(
                    f"local column {local.local_name!r}: codes map to {stray} which are not "
                    f"categories of {col.name!r}, and categories {uncovered} have no local code"
                )

    def to_schema(self, df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
        """Convert a frame in local encoding into schema encoding (schema column order)."""
        self.check(schema)
        _require_columns(df.columns, self.local_names, "local")
        out: dict[str, pd.Series] = {}
        for local in self.columns:
            col = schema.column(local.schema_name)
            values = df[local.local_name]
            if col.kind == "numeric":
                out[col.name] = (values.astype(float) - local.offset) / local.scale
            else:
                assert local.codes is not None  # guaranteed by check()
                out[col.name] = _map_codes(values, local.codes, local.local_name)
        return pd.DataFrame(out, index=df.index)[schema.names]

    def from_schema(self, df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
        """Convert a frame in schema encoding into this participant's local encoding."""
        self.check(schema)
        _require_columns(df.columns, schema.names, "schema")
        out: dict[str, pd.Series] = {}
        for local in self.columns:
            col = schema.column(local.schema_name)
            values = df[col.name]
            if col.kind == "numeric":
                converted = values.astype(float) * local.scale + local.offset
                if local.decimals is not None:
                    converted = converted.round(local.decimals)
                    if local.decimals == 0:
                        converted = converted.astype(np.int64)
                out[local.local_name] = converted
            else:
                assert local.codes is not None
                inverse = {v: k for k, v in local.codes.items()}
                out[local.local_name] = _map_codes(values, inverse, col.name)
        return pd.DataFrame(out, index=df.index)[self.local_names]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description."""
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocalMapping:
        """Inverse of ``to_dict``."""
        return cls(tuple(LocalColumn.from_dict(c) for c in data["columns"]))


def _require_columns(present: Iterable[Any], expected: list[str], encoding: str) -> None:
    present_list = [str(c) for c in present]
    missing = [n for n in expected if n not in present_list]
    unknown = [n for n in present_list if n not in expected]
    if missing or unknown:
        raise SchemaError(
            f"frame in {encoding} encoding: missing columns {missing}, unknown columns "
            f"{unknown}; every column must be declared in the mapping (drop the others first)"
        )


def _map_codes(values: pd.Series, codes: Mapping[Category, Category], column: str) -> pd.Series:
    unknown = sorted({str(v) for v in values.unique() if v not in codes})
    if unknown:
        raise SchemaError(
            f"column {column!r} holds codes {unknown[:10]} that the mapping does not know; add "
            f"them to the mapping's codes (known: {list(codes)[:10]})"
        )
    return values.map(codes)
