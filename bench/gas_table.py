"""The run-and-write part shared by the gas benchmarks (``bench/gas.py``, ``bench/gas_session.py``).

Each benchmark measures its own rows and renders its own table; this module gives them a chain
to measure on, the anvil version for the report's header, and the write-out of the report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from insitu.chain.devnode import ephemeral_anvil
from insitu.stack.anvil import find_anvil

RowT = TypeVar("RowT")


@contextmanager
def chain_url() -> Iterator[str]:
    """$INSITU_RPC_URL, or a throwaway anvil for the run."""
    url = os.environ.get("INSITU_RPC_URL")
    if url:
        yield url
        return
    with ephemeral_anvil() as local:
        yield local


def anvil_version() -> str:
    """The local anvil's version line, for the report."""
    try:
        out = subprocess.run([str(find_anvil()), "--version"], capture_output=True, text=True)
        return out.stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "anvil"


def run_and_write(
    measure: Callable[[str], list[RowT]],
    render: Callable[[list[RowT], str], str],
    results: Path,
) -> int:
    """Measure on a chain, print the rendered report and write it to ``results``; exit code."""
    with chain_url() as url:
        rows = measure(url)
    text = render(rows, anvil_version())
    print(text)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(text)
    print(f"wrote {results}", file=sys.stderr)
    return 0
