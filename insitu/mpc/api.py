"""High-level entry points for the inference worker (model owner) and the buyer SDK.

Typical session::

    secret = share_model(fitted_sklearn_model)             # at the owner
    material = prepare_material(secret.architecture, n_rows, "labels")   # at the dealer
    # owner:  ModelOwner(secret).serve(channel, material.owner)
    # buyer:  Buyer(rows).predict(channel, "labels", material.buyer)

What each party learns (semi-honest parties, a dealer that colludes with neither):

- the model owner: the public plan (row count, number of features, output mode) and values
  masked by dealer randomness that is uniform on Z_2^64 — never a row, an intermediate
  value or the output;
- the buyer: the architecture (estimator type, layer widths, activations, class labels,
  whether a scaler is applied) and the output of the chosen mode — never a weight; the
  output itself of course says something about the model (as any prediction API does);
- the dealer: the public plan only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from insitu.mpc.dealer import Dealer, DealerMaterial, PartyMaterial, PlanHeader, Recorder
from insitu.mpc.errors import MaterialMismatch, MPCError, ProtocolAbort
from insitu.mpc.inference import evaluate
from insitu.mpc.model import Architecture, SecretModel, compile_model
from insitu.mpc.protocol import Party
from insitu.mpc.transport import Channel, Traffic

WHAT_EACH_PARTY_LEARNS = {
    "owner": "row count, feature count and output mode; nothing about rows or outputs",
    "buyer": "architecture (types, widths, activations, classes) and the requested output",
    "dealer": "the public plan (architecture, row count, output mode)",
}


def share_model(model: Any) -> SecretModel:
    """Compile a fitted scikit-learn model for private inference (stays at the owner)."""
    return model if isinstance(model, SecretModel) else compile_model(model)


def plan(architecture: Architecture, n_rows: int, mode: str) -> list:
    """The dealer requests of a session, found by a dry run of the protocol."""
    architecture.check_mode(mode)
    recorder = Recorder()
    party = Party(0, None, recorder)
    evaluate(party, architecture, mode, n_rows, model=SecretModel.zeros(architecture))
    return recorder.requests


def prepare_material(
    architecture: Architecture, n_rows: int, mode: str, dealer: Dealer | None = None
) -> DealerMaterial:
    """The dealer's offline phase for one session; `seconds` includes planning."""
    start = time.perf_counter()
    header = PlanHeader(architecture.fingerprint, int(n_rows), mode)
    material = (dealer or Dealer()).generate(header, plan(architecture, n_rows, mode))
    material.seconds = time.perf_counter() - start
    return material


@dataclass
class SessionReport:
    """What a finished session reports to the marketplace."""

    n_rows: int
    mode: str
    commitment: str  # sha256 of the owner's output-shares message (hex)
    seconds: float
    rounds: int
    traffic: Traffic


def _check_header(material: PartyMaterial, arch: Architecture, n_rows: int, mode: str) -> None:
    wanted = PlanHeader(arch.fingerprint, n_rows, mode)
    if material.header != wanted:
        raise MaterialMismatch(
            f"dealer material is for {material.header}, the session is {wanted}; ask the "
            "dealer for material for this session"
        )


class ModelOwner:
    """The model owner's side: holds the weights, serves one batch per session."""

    def __init__(self, model: Any) -> None:
        self.model = share_model(model)

    @property
    def architecture(self) -> Architecture:
        """The public part of the model."""
        return self.model.architecture

    def serve(self, conn: Channel, material: PartyMaterial) -> SessionReport:
        """Serve one batch: announce the architecture, learn the plan, run the protocol."""
        start = time.perf_counter()
        try:
            request = conn.exchange(self.architecture.to_json().encode())
            n_text, _, mode = request.decode().partition(":")
            n_rows = int(n_text)
            _check_header(material, self.architecture, n_rows, mode)
            party = Party(0, conn, material)
            out = evaluate(party, self.architecture, mode, n_rows, model=self.model)
            material.check_used_up()
        except (MPCError, ValueError) as exc:
            conn.abort()
            if isinstance(exc, ProtocolAbort):
                raise
            raise ProtocolAbort(f"session aborted by the model owner: {exc}") from exc
        return SessionReport(
            n_rows, mode, out.commitment, time.perf_counter() - start, party.rounds, conn.traffic
        )


class Buyer:
    """The buyer's side: holds the rows, learns only the requested output."""

    def __init__(self, rows: ArrayLike) -> None:
        self.rows = np.asarray(rows, dtype=np.float64)
        if self.rows.ndim != 2:
            raise MPCError("rows must be a 2-D array (n_rows × n_features)")
        self.last_report: SessionReport | None = None
        self.architecture: Architecture | None = None

    def predict(self, conn: Channel, mode: str, material: PartyMaterial) -> NDArray:
        """Private predictions for the rows; the report lands in `last_report`."""
        start = time.perf_counter()
        n_rows = self.rows.shape[0]
        try:
            arch = Architecture.from_json(conn.exchange(f"{n_rows}:{mode}".encode()).decode())
            if arch.n_features != self.rows.shape[1]:
                raise MPCError(
                    f"the model takes {arch.n_features} features, the rows have "
                    f"{self.rows.shape[1]}"
                )
            _check_header(material, arch, n_rows, mode)
            party = Party(1, conn, material)
            out = evaluate(party, arch, mode, n_rows, rows=self.rows)
            material.check_used_up()
        except (MPCError, ValueError, TypeError) as exc:
            conn.abort()
            if isinstance(exc, ProtocolAbort):
                raise
            raise ProtocolAbort(f"session aborted by the buyer: {exc}") from exc
        self.architecture = arch
        self.last_report = SessionReport(
            n_rows, mode, out.commitment, time.perf_counter() - start, party.rounds, conn.traffic
        )
        assert out.result is not None
        return out.result
