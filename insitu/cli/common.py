"""What every CLI module shares: the console and how errors are shown."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from insitu.errors import InsituError

# Piped or logged output (CI, `make demo | tee`) gets wide tables instead of rich's 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=140)


@contextmanager
def user_errors() -> Iterator[None]:
    """Show an ``InsituError`` as one red line (it already says what to do) and exit 1."""
    try:
        yield
    except InsituError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
