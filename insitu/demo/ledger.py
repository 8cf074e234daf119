"""A demo's record of every step: what happened, its transaction, gas and artifacts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from insitu.chain import TxReceipt


@dataclass
class Step:
    actor: str
    action: str
    tx_hash: str = ""
    gas: int = 0
    detail: str = ""


@dataclass
class DemoLedger:
    """Collects steps and phase timings, prints them as they happen and as a table at the end."""

    console: Console
    steps: list[Step] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    _phase_start: float = 0.0
    _phase: str = ""

    def phase(self, name: str) -> None:
        """Start timing a new phase (ends the previous one)."""
        self.end_phase()
        self._phase, self._phase_start = name, time.perf_counter()
        self.console.rule(f"[bold]{name}")

    def end_phase(self) -> None:
        if self._phase:
            self.phases[self._phase] = time.perf_counter() - self._phase_start
            self._phase = ""

    def tx(self, actor: str, action: str, receipt: TxReceipt, detail: str = "") -> None:
        self.steps.append(Step(actor, action, receipt.tx_hash, receipt.gas_used, detail))
        self.console.print(
            f"  [cyan]{actor}[/] {action}: tx {receipt.tx_hash[:18]}… gas {receipt.gas_used:,}"
            + (f"  {detail}" if detail else "")
        )

    def note(self, actor: str, action: str, detail: str = "") -> None:
        self.steps.append(Step(actor, action, detail=detail))
        self.console.print(f"  [cyan]{actor}[/] {action}" + (f": {detail}" if detail else ""))

    def table(self) -> Table:
        table = Table("actor", "step", "tx hash", "gas", "detail", title="Every step")
        for s in self.steps:
            table.add_row(s.actor, s.action, s.tx_hash, f"{s.gas:,}" if s.gas else "", s.detail)
        return table

    def phase_table(self) -> Table:
        self.end_phase()
        table = Table("phase", "wall time (s)", title="Wall time per phase")
        for name, seconds in self.phases.items():
            table.add_row(name, f"{seconds:.2f}")
        return table
