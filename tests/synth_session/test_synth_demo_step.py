"""The demo's generator-session step on the test stack (starts and stops its own workers)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from synth_session_harness import SynthEnv

from insitu.demo.synth_step import run_synth_demo


@pytest.mark.slow
def test_synth_demo_step(synth_env: SynthEnv) -> None:
    out = io.StringIO()
    try:
        summary = run_synth_demo(
            synth_env.market, Console(file=out, width=120), synth_env.endpoints
        )
    except Exception:
        pytest.fail(f"demo failed; its output:\n{out.getvalue()}")
    # The flipped-label provider is rejected; honest ones may be too when they add nothing.
    assert summary["scores"][3] == 0 and sum(summary["scores"]) > 0
    assert summary["payouts"][3] == min(summary["payouts"])
    assert summary["sample_columns"] == ["amt_cents", "txn_hour", "temp_f", "mcc", "is_fraud"]
    assert "rejected" in out.getvalue()
    # Its wall time is a benchmark figure (printed by the demo), not a test assertion.
