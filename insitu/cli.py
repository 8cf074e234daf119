"""The ``insitu`` command line: everything a user does without writing code.

Every command is a thin shell over the SDK; no business logic lives here.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from insitu.config import load_settings
from insitu.errors import InsituError

app = typer.Typer(help=__doc__.splitlines()[0], no_args_is_help=True, add_completion=False)
stack_app = typer.Typer(help="Start, inspect and stop the local services.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")

console = Console()


def _fail(exc: InsituError) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=1)


def _print_status() -> None:
    from insitu.stack import STATUS_COLUMNS, LocalStack, status_rows

    table = Table(*STATUS_COLUMNS)
    for row in status_rows(LocalStack(load_settings()).status()):
        table.add_row(*row)
    console.print(table)


@stack_app.command("up")
def stack_up(
    persist: Annotated[
        bool, typer.Option(help="Keep the chain and Redis data across restarts.")
    ] = False,
) -> None:
    """Start anvil and Redis unless a URL is configured for them; reuse running ones."""
    from insitu.stack import LocalStack

    try:
        endpoints = LocalStack(load_settings(), persist_state=persist).up()
    except InsituError as exc:
        _fail(exc)
    console.print(
        f"started: {endpoints.started or '-'}  reused: {endpoints.reused or '-'}  "
        f"external: {endpoints.external or '-'}"
    )
    _print_status()


@stack_app.command("down")
def stack_down() -> None:
    """Stop the local services started by `insitu stack up` (also cleans up after a crash)."""
    from insitu.stack import LocalStack

    try:
        stopped = LocalStack(load_settings()).down()
    except InsituError as exc:
        _fail(exc)
    console.print(f"stopped: {stopped or 'nothing was running'}")


@stack_app.command("status")
def stack_status() -> None:
    """Show where each service runs and whether it answers."""
    try:
        _print_status()
    except InsituError as exc:
        _fail(exc)


@app.command("compile")
def compile_contracts(
    check: Annotated[bool, typer.Option(help="Only check the committed artifacts.")] = False,
) -> None:
    """Compile contracts/ into the SDK's artifacts (native solc, or solc-js offline)."""
    from insitu.toolchain import build

    try:
        code = build.main(["--check"] if check else [])
    except InsituError as exc:
        _fail(exc)
    raise typer.Exit(code=code)


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
