"""Loading private data files, with errors that name the asset and the fix."""

import os
from pathlib import Path

import pandas as pd
import pytest

from insitu.compute.data import load_table, resolve_data_file
from insitu.compute.errors import DataError, ParamsError
from insitu.compute.reasons import Reason

ASSET = "did:insitu:0xabc"


def test_loads_csv_from_file_or_single_file_dir(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(path, index=False)
    assert load_table(path, asset=ASSET)["a"].tolist() == [1, 2]
    assert resolve_data_file(tmp_path) == path


def test_missing_file_names_asset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"asset {ASSET}.*does not exist.*provider config") as e:
        load_table(tmp_path / "nope.csv", asset=ASSET)
    assert e.value.reason is Reason.DATA_MISSING


def test_ambiguous_dir_and_bad_suffix(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("x\n1\n")
    with pytest.raises(DataError, match="2 table files"):
        load_table(tmp_path, asset=ASSET)
    (tmp_path / "c.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"only \.csv and \.parquet"):
        load_table(tmp_path / "c.xlsx", asset=ASSET)


def test_unparsable_empty_and_missing_column(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"could not be parsed|no rows"):
        load_table(empty, asset=ASSET)
    header_only = tmp_path / "h.csv"
    header_only.write_text("a,b\n")
    with pytest.raises(DataError, match="no rows"):
        load_table(header_only, asset=ASSET)
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ParamsError, match="no column 'target'; its columns are a, b") as e:
        load_table(path, asset=ASSET, required_columns=("target",))
    assert e.value.reason is Reason.BAD_PARAMS


def test_parquet_needs_pyarrow(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        path.write_bytes(b"PAR1")
        with pytest.raises(DataError, match="pip install pyarrow"):
            load_table(path, asset=ASSET)
    else:
        pd.DataFrame({"a": [1]}).to_parquet(path)
        assert load_table(path, asset=ASSET)["a"].tolist() == [1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    path.chmod(0)
    with pytest.raises(DataError, match="not readable"):
        load_table(path, asset=ASSET)
