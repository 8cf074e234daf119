"""``insitu stack up|down|status``: the local services."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from insitu.cli.common import console, user_errors
from insitu.config import load_settings

app = typer.Typer(help="Start, inspect and stop the local services.", no_args_is_help=True)


def _print_status() -> None:
    from insitu.stack import STATUS_COLUMNS, LocalStack, status_rows

    table = Table(*STATUS_COLUMNS)
    for row in status_rows(LocalStack(load_settings()).status()):
        table.add_row(*row)
    console.print(table)


@app.command("up")
def up(
    persist: Annotated[
        bool, typer.Option(help="Keep the chain and Redis data across restarts.")
    ] = False,
) -> None:
    """Start anvil and Redis unless a URL is configured for them; reuse running ones."""
    from insitu.stack import LocalStack

    with user_errors():
        endpoints = LocalStack(load_settings(), persist_state=persist).up()
        console.print(
            f"started: {endpoints.started or '-'}  reused: {endpoints.reused or '-'}  "
            f"external: {endpoints.external or '-'}"
        )
        _print_status()


@app.command("down")
def down() -> None:
    """Stop the local services started by `insitu stack up` (also cleans up after a crash)."""
    from insitu.stack import LocalStack

    with user_errors():
        stopped = LocalStack(load_settings()).down()
    console.print(f"stopped: {stopped or 'nothing was running'}")


@app.command("status")
def status() -> None:
    """Show where each service runs and whether it answers."""
    with user_errors():
        _print_status()
