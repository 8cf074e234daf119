"""The ``insitu`` command line: everything a user does without writing code.

Each area has its own module holding a Typer sub-application; every command is a thin shell
over the SDK, with no business logic of its own.
"""

from __future__ import annotations

import typer

from insitu.cli import market, stack

app = typer.Typer(
    help="insitu: data stays where it lives; computation travels to it.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(stack.app, name="stack")
market.register(app)
