"""Turn service states into rows for ``insitu stack status``."""

from __future__ import annotations

from collections.abc import Sequence

from insitu.stack.stack import ServiceStatus

STATUS_COLUMNS = ("service", "state", "where", "pid", "endpoint")


def status_rows(statuses: Sequence[ServiceStatus]) -> list[tuple[str, str, str, str, str]]:
    """One tuple of strings per service, in ``STATUS_COLUMNS`` order (ready for a rich Table)."""
    return [
        (s.name, str(s.state), s.location, "-" if s.pid is None else str(s.pid), s.endpoint)
        for s in statuses
    ]


def format_status(statuses: Sequence[ServiceStatus]) -> str:
    """A plain-text table of the services, aligned in columns."""
    rows = [STATUS_COLUMNS, *status_rows(statuses)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(STATUS_COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    return "\n".join(lines)
