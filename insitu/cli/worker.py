"""``insitu worker start|stop|status --config provider.toml``: a provider's worker processes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from insitu.cli.common import console, user_errors

app = typer.Typer(
    help="Run a provider worker (event listener + Celery pool).", no_args_is_help=True
)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The worker config (TOML).")]


def _unit(config: Path):
    from insitu.worker import WorkerUnit, load_worker_config

    return WorkerUnit(load_worker_config(config), ready_timeout=90)


@app.command("start")
def start(config: ConfigOption) -> None:
    """Start the listener and the Celery worker in the background and wait until they serve."""
    with user_errors():
        unit = _unit(config)
        started = unit.start()
        for piece, record in started.items():
            console.print(f"started {piece} (pid {record.pid})")
        if not started:
            console.print("already running")
        console.print(f"logs: {unit.config.state_dir}")


@app.command("stop")
def stop(config: ConfigOption) -> None:
    """Stop the listener, then the Celery worker (running jobs finish first)."""
    with user_errors():
        stopped = _unit(config).stop()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command("status")
def status(
    config: ConfigOption,
    logs: Annotated[int, typer.Option(help="Show the last N log lines of each piece.")] = 0,
) -> None:
    """Show the processes, the listener's checkpoint and the dead letters (failed jobs)."""
    import redis

    from insitu.worker import JobStore

    with user_errors():
        unit = _unit(config)
        table = Table("piece", "state", "pid", "log", title=unit.config.organisation)
        for row in unit.status():
            table.add_row(row.name, row.state.value, str(row.pid or ""), row.log_path)
        console.print(table)
        client = redis.Redis.from_url(unit.config.redis_url, socket_timeout=5)
        try:
            checkpoint = client.hget(
                f"insitu:listener:{unit.config.listener_name}:checkpoint", "block"
            )
            letters = JobStore(client).dead_letters()
        except redis.RedisError as exc:
            console.print(f"[yellow]Redis at {unit.config.redis_url} unreachable: {exc}[/]")
            return
        console.print(f"listener checkpoint: block {checkpoint.decode() if checkpoint else '-'}")
        dead = Table(
            "job",
            "reason",
            "attempts",
            "failed at",
            "message",
            title=f"dead letters ({len(letters)})",
        )
        for job_id, letter in sorted(letters.items(), key=lambda kv: -kv[1].failed_at):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(letter.failed_at))
            message = letter.message + (
                f" [hook: {letter.hook_error}]" if letter.hook_error else ""
            )
            dead.add_row(
                job_id[:18] + "…", letter.reason_code, str(letter.attempts), when, message[:200]
            )
        console.print(dead)
        for piece in ("listener", "celery") if logs else ():
            console.rule(f"{piece} log")
            console.print(unit.log_tail(piece, logs), markup=False, highlight=False)
