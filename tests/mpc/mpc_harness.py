"""Runs both parties of a protocol step in two threads, for the primitive tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from insitu.mpc.dealer import Dealer, PlanHeader, Recorder
from insitu.mpc.prg import Prg
from insitu.mpc.protocol import Party
from insitu.mpc.ring import Ring, share
from insitu.mpc.transport import _in_threads, channel_pair

Step = Callable[[Party, Any], Any]


def run_step(step: Step, inputs0: Any, inputs1: Any) -> tuple[Any, Any]:
    """Plan `step` with the dealer, then run it on a real channel pair in two threads."""
    recorder = Recorder()
    step(Party(0, None, recorder), inputs0)
    material = Dealer().generate(PlanHeader("test", 0, "test"), recorder.requests)
    owner, buyer = channel_pair(timeout=10)
    try:
        return _in_threads(
            lambda: step(Party(0, owner, material.owner), inputs0),
            lambda: step(Party(1, buyer, material.buyer), inputs1),
        )
    finally:
        owner.close()
        buyer.close()


def shares_of(secret: Ring) -> tuple[Ring, Ring]:
    """Fresh additive shares of a ring array."""
    return share(secret, Prg())
