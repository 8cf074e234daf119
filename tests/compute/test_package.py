"""Algorithm packages: deterministic packing, safe unpacking, manifest and params validation."""

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from insitu.compute.builtin import NAMES, builtin_package, builtin_path
from insitu.compute.errors import HashMismatchError, PackageError, ParamsError
from insitu.compute.package import (
    algorithm_hash,
    pack,
    parse_manifest,
    read_manifest,
    unpack,
    validate_params,
    verify_hash,
)
from insitu.compute.reasons import Reason


def _copy_builtin(tmp_path: Path, name: str = "describe") -> Path:
    target = tmp_path / name
    shutil.copytree(builtin_path(name), target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_same_folder_packs_to_same_hash(tmp_path: Path) -> None:
    folder = _copy_builtin(tmp_path)
    first = pack(folder)
    assert pack(folder) == first
    os.utime(folder / "describe.py", (1, 1))
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "describe.cpython-311.pyc").write_bytes(b"junk")
    assert algorithm_hash(pack(folder)) == algorithm_hash(first)
    copy = _copy_builtin(tmp_path / "elsewhere")
    assert pack(copy) == first


def test_content_change_changes_hash(tmp_path: Path) -> None:
    folder = _copy_builtin(tmp_path)
    before = algorithm_hash(pack(folder))
    with open(folder / "describe.py", "a") as f:
        f.write("\n# changed\n")
    after = algorithm_hash(pack(folder))
    assert before != after and after.startswith("0x") and len(after) == 66


def test_pack_refuses_symlinks(tmp_path: Path) -> None:
    folder = _copy_builtin(tmp_path)
    (folder / "secret.csv").symlink_to("/etc/passwd")
    with pytest.raises(PackageError, match="not a regular file"):
        pack(folder)


@pytest.mark.parametrize("name", NAMES)
def test_builtins_pack_and_unpack(tmp_path: Path, name: str) -> None:
    data = builtin_package(name)
    manifest = unpack(data, tmp_path / name, expected_hash=algorithm_hash(data))
    assert manifest.name == name
    assert pack(tmp_path / name) == data


def _tar(entries: list[tarfile.TarInfo], payload: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info in entries:
            if info.isreg():
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    "entry",
    [
        _member("../escape.py"),
        _member("/abs/escape.py"),
        _member("ok/../../escape.py"),
        _member("link", tarfile.SYMTYPE, "/etc/passwd"),
        _member("hard", tarfile.LNKTYPE, "x"),
    ],
)
def test_unpack_rejects_unsafe_entries(tmp_path: Path, entry: tarfile.TarInfo) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(PackageError, match="refusing"):
        unpack(_tar([entry]), dest)
    assert not (tmp_path / "escape.py").exists() and not (tmp_path / "link").exists()


def test_unpack_rejects_garbage(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="not a tar archive"):
        unpack(b"definitely not tar" * 100, tmp_path / "d")


def test_hash_mismatch_is_named() -> None:
    data = builtin_package("describe")
    wrong = "0x" + "00" * 32
    with pytest.raises(HashMismatchError, match=wrong) as info:
        verify_hash(data, wrong)
    assert info.value.reason is Reason.HASH_MISMATCH
    verify_hash(data, bytes.fromhex(algorithm_hash(data)[2:]))


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"name": "x", "version": "1", "parameters": {}, "outputs": []}), "entry_point"),
        (
            json.dumps(
                {
                    "name": "x",
                    "version": "1",
                    "entry_point": "no-colon",
                    "parameters": {},
                    "outputs": [],
                }
            ),
            "entry_point",
        ),
        (
            json.dumps(
                {
                    "name": "x",
                    "version": "1",
                    "entry_point": "m:f",
                    "parameters": {"type": "nonsense"},
                    "outputs": [],
                }
            ),
            "not a valid JSON Schema",
        ),
    ],
)
def test_malformed_manifest(manifest: str, message: str) -> None:
    with pytest.raises(PackageError, match=message) as info:
        parse_manifest(manifest)
    assert info.value.reason is Reason.BAD_METADATA


def test_entry_module_must_exist(tmp_path: Path) -> None:
    folder = _copy_builtin(tmp_path)
    (folder / "describe.py").unlink()
    with pytest.raises(PackageError, match=r"describe\.py is not in the package"):
        read_manifest(folder)


def test_params_error_names_field(tmp_path: Path) -> None:
    manifest = unpack(builtin_package("sklearn_train"), tmp_path / "s")
    validate_params(
        manifest,
        {"estimator": "sklearn.linear_model.LogisticRegression", "target": "y", "test_size": 0.3},
    )
    with pytest.raises(ParamsError, match="test_size") as info:
        validate_params(
            manifest,
            {"estimator": "sklearn.linear_model.LogisticRegression", "target": "y", "test_size": 3},
        )
    assert info.value.reason is Reason.BAD_PARAMS
    with pytest.raises(ParamsError, match="'target' is a required property"):
        validate_params(manifest, {"estimator": "sklearn.linear_model.LogisticRegression"})
    with pytest.raises(ParamsError, match="estimator"):
        validate_params(manifest, {"estimator": "os.system", "target": "y"})
