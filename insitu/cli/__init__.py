"""The ``insitu`` command line: everything a user does without writing code.

Each area has its own module holding a Typer sub-application; every command is a thin shell
over the SDK, with no business logic of its own.
"""

from __future__ import annotations

import typer

from insitu.cli import compute, fl, inference, market, stack, synth, worker

app = typer.Typer(
    help="insitu: data stays where it lives; computation travels to it.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(stack.app, name="stack")
app.add_typer(fl.app, name="fl")
market.register(app)
app.add_typer(worker.app, name="worker")
compute.register(app)
app.add_typer(inference.app, name="inference")
app.add_typer(synth.app, name="synth")
