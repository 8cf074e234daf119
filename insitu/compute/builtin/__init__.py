"""Built-in algorithm packages shipped with insitu, one folder each (manifest.json + code).

Each folder is an ordinary package: `pack(builtin_path(name))` gives the bytes whose
`algorithm_hash` a provider allowlists. The packages are self-contained apart from the sandbox
`Context` they receive, so their hash pins their behaviour.
"""

from functools import cache
from pathlib import Path

from insitu.compute.errors import PackageError
from insitu.compute.package import pack

BUILTIN_DIR = Path(__file__).resolve().parent
NAMES = ("sklearn_train", "describe", "coldchain_query")


def builtin_path(name: str) -> Path:
    """The folder of built-in algorithm `name`."""
    if name not in NAMES:
        raise PackageError(f"no built-in algorithm {name!r}: choose one of {', '.join(NAMES)}.")
    return BUILTIN_DIR / name


@cache
def builtin_package(name: str) -> bytes:
    """The packed bytes of built-in algorithm `name` (cached: the folder is read-only code)."""
    return pack(builtin_path(name))
