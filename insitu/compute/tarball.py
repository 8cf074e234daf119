"""Deterministic tar archives: the same folder always packs to the same bytes.

Algorithm packages and result folders are content-addressed (sha256 / keccak256 / IPFS CID), so
their bytes must depend only on file names and contents: entries sorted by path, mtime 0,
uid/gid 0, empty owner names, mode 0644 (0755 when the owner-execute bit is set), no directory
entries and no compression (gzip headers carry a timestamp). Symlinks, devices and other special
files are refused rather than followed, because following a link could pull an arbitrary file
(for example the provider's private data) into an archive that leaves the machine.
"""

import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from insitu.compute.errors import ComputeError, PackageError

# Names that appear as a side effect of importing or editing code, never as content.
_IGNORED_DIRS = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_IGNORED_SUFFIXES = (".pyc", ".pyo")
_IGNORED_NAMES = frozenset({".DS_Store"})


def _collect(folder: Path, error: type[ComputeError]) -> list[tuple[str, Path]]:
    if not folder.is_dir():
        raise error(f"{folder} is not a directory: pass the folder to pack.")
    files: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(folder):
        root_path = Path(root)
        for d in list(dirs):
            if d in _IGNORED_DIRS:
                dirs.remove(d)
            elif (root_path / d).is_symlink():
                raise error(f"{root_path / d} is a symlink: copy the content in instead.")
        for name in names:
            if name in _IGNORED_NAMES or name.endswith(_IGNORED_SUFFIXES):
                continue
            path = root_path / name
            mode = path.lstat().st_mode
            if not stat.S_ISREG(mode):
                raise error(f"{path} is not a regular file (symlink or special file): remove it.")
            files.append((path.relative_to(folder).as_posix(), path))
    files.sort(key=lambda item: item[0].encode("utf-8"))
    return files


def pack_folder(
    folder: Path, *, error: type[ComputeError] = PackageError, max_bytes: int | None = None
) -> bytes:
    """Pack the regular files of `folder` into deterministic, uncompressed tar bytes."""
    buffer = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in _collect(folder, error):
            data = path.read_bytes()
            total += len(data)
            if max_bytes is not None and total > max_bytes:
                raise error(f"{folder} holds more than {max_bytes} bytes: shrink it.")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _safe_member_path(name: str, error: type[ComputeError]) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(p in ("..", "") for p in path.parts):
        raise error(f"archive entry {name!r} escapes the extraction folder: refusing to unpack.")
    if "\\" in name or "\x00" in name:
        raise error(f"archive entry {name!r} has an unsafe character: refusing to unpack.")
    return path


def unpack_bytes(
    data: bytes,
    dest: Path,
    *,
    max_bytes: int,
    error: type[ComputeError] = PackageError,
    accept: Callable[[tarfile.TarInfo], bool] | None = None,
) -> list[str]:
    """Unpack tar `data` into `dest` (created if needed); returns the file names, sorted.

    Only regular files (and directories, which are recreated implicitly) are accepted; links,
    devices, absolute paths and `..` components raise `error`, so a hostile archive cannot write
    outside `dest`. `max_bytes` bounds the unpacked size (a tar bomb guard).
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    names: list[str] = []
    total = 0
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 - closed below
    except tarfile.TarError as exc:
        raise error(f"not a tar archive ({exc}): the bytes are corrupt or not a package.") from exc
    with tar:
        for member in tar:
            rel = _safe_member_path(member.name, error)
            if member.isdir():
                continue
            if not member.isreg():
                raise error(f"archive entry {member.name!r} is a link or special file: refusing.")
            if accept is not None and not accept(member):
                continue
            total += member.size
            if total > max_bytes:
                raise error(f"archive unpacks to more than {max_bytes} bytes: refusing.")
            target = root.joinpath(*rel.parts)
            # Belt and braces: a pre-existing symlink inside dest must not redirect the write.
            if not target.parent.resolve().is_relative_to(root):
                raise error(f"archive entry {member.name!r} resolves outside {dest}: refusing.")
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None  # a regular member always has a file object
            try:
                with open(target, "xb") as out:
                    out.write(source.read())
            except FileExistsError as exc:
                raise error(f"archive entry {member.name!r} appears twice: refusing.") from exc
            target.chmod(0o755 if member.mode & stat.S_IXUSR else 0o644)
            names.append(rel.as_posix())
    return sorted(names)
