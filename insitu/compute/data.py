"""Loading a provider's private data file (CSV, or Parquet when pyarrow is installed).

Used on both sides of the sandbox: the worker checks an asset's data before it starts a job
(so a misconfigured path becomes a clear DATA_MISSING rejection naming the asset), and the
sandboxed algorithm reads the same file through `Context.read_table()`.
"""

import importlib.util
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from insitu.compute.errors import DataError, ParamsError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _label(asset: str | None, path: Path) -> str:
    return f"asset {asset} (data file {path})" if asset else f"data file {path}"


def resolve_data_file(path: Path | str, *, asset: str | None = None) -> Path:
    """The table file for `path`: the file itself, or the single table file in a directory."""
    path = Path(path)
    label = _label(asset, path)
    if not path.exists():
        raise DataError(
            f"{label} does not exist: fix the asset's data path in the provider "
            "config or restore the file."
        )
    if path.is_dir():
        tables = sorted(p for p in path.iterdir() if p.suffix.lower() in TABLE_SUFFIXES)
        if len(tables) != 1:
            raise DataError(
                f"{label} is a directory with {len(tables)} table files "
                f"({', '.join(p.name for p in tables) or 'none'}): point the asset "
                "at one .csv/.parquet file."
            )
        path = tables[0]
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(
            f"{_label(asset, path)} has suffix {path.suffix!r}: only .csv and "
            ".parquet are supported; convert the file."
        )
    return path


def load_table(
    path: Path | str, *, asset: str | None = None, required_columns: Iterable[str] = ()
) -> pd.DataFrame:
    """Read a CSV/Parquet table; raise DataError/ParamsError saying what to fix.

    A missing column in `required_columns` is a ParamsError (the job asked for a column the
    dataset does not have), not a data error.
    """
    file = resolve_data_file(path, asset=asset)
    label = _label(asset, file)
    is_parquet = file.suffix.lower() in (".parquet", ".pq")
    if is_parquet and importlib.util.find_spec("pyarrow") is None:
        raise DataError(
            f"{label} is Parquet but pyarrow is not installed: "
            "`pip install pyarrow` on the provider machine or export it as CSV."
        )
    try:
        frame = pd.read_parquet(file) if is_parquet else pd.read_csv(file)
    except PermissionError as exc:
        raise DataError(
            f"{label} is not readable by the worker ({exc.strerror}): fix its permissions."
        ) from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(
            f"{label} could not be parsed ({exc}): check the file is a valid "
            f"{'Parquet' if is_parquet else 'CSV'} table."
        ) from exc
    if frame.empty:
        raise DataError(f"{label} has no rows: the asset's data is empty.")
    missing = [c for c in required_columns if c not in frame.columns]
    if missing:
        raise ParamsError(
            f"{label} has no column {', '.join(map(repr, missing))}; its columns "
            f"are {', '.join(map(str, frame.columns))}. Fix the job parameters."
        )
    return frame
