"""The private evaluation of a compiled model, run identically by both parties.

Data flow (party 0 = owner, party 1 = buyer):

1. The buyer's rows X are already an additive sharing of themselves with the owner's share
   zero; they are never sent anywhere, only masked by the dealer's A in `cross_matmul`.
2. Optional scaler: (X − mean)·diag(1/scale), the owner's share being −mean, truncated by
   `SCALER_FRAC_BITS` (|standardised value| must stay below 2^10).
3. Affine layers H·W + b with exact truncation, ReLU between hidden layers.
4. Output per mode: scores (logits/decision values), proba (sigmoid, binary logistic
   models), labels (sign for binary, argmax tournament for multiclass).
5. The owner sends its output shares to the buyer in one message; only the buyer learns the
   result. The SHA-256 of that message's payload is the delivery commitment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from insitu.mpc import nonlinear
from insitu.mpc.model import SCALER_FRAC_BITS, Architecture, SecretModel
from insitu.mpc.protocol import Party
from insitu.mpc.ring import U64, Ring, decode, encode


@dataclass
class Output:
    """What the evaluation yields: at the buyer the decoded result, at both the commitment."""

    result: NDArray | None
    commitment: str


def evaluate(
    party: Party,
    arch: Architecture,
    mode: str,
    n_rows: int,
    model: SecretModel | None = None,
    rows: NDArray[np.float64] | None = None,
) -> Output:
    """Run the protocol for one batch; `model` at the owner, `rows` at the buyer."""
    arch.check_mode(mode)
    owner = party.is_owner
    d = arch.n_features

    if owner:
        assert model is not None
        h = np.zeros((n_rows, d), U64)
    else:
        assert rows is not None
        h = encode(rows)
    if arch.scaler:
        w = None
        if owner:
            assert model is not None and model.scaler is not None
            mean, inv_scale = model.scaler
            h = h - np.broadcast_to(encode(mean), (n_rows, d))
            w = encode(np.diag(inv_scale), SCALER_FRAC_BITS)
        h = party.truncate(party.matmul_private(h, w, d), SCALER_FRAC_BITS)
    n_layers = len(arch.widths)
    for i, width in enumerate(arch.widths):
        w = b = None
        if owner:
            assert model is not None
            w, b = encode(model.layers[i][0]), encode(model.layers[i][1])
        h = party.truncate(party.matmul_private(h, w, width))
        if owner:
            h = h + b[None, :]
        if i < n_layers - 1 and arch.hidden_activation == "relu":
            h = nonlinear.relu(party, h)
    return _deliver(party, arch, mode, h)


def _deliver(party: Party, arch: Architecture, mode: str, logits: Ring) -> Output:
    """Compute the requested output and reveal it to the buyer only."""
    if mode == "scores":
        shares, kind = logits, "fixed"
    elif mode == "proba":
        shares, kind = nonlinear.sigmoid(party, logits[:, 0]), "fixed"
    elif arch.binary:
        shares, kind = party.ge_zero(logits[:, 0]), "bit"
    else:
        shares, kind = nonlinear.argmax(party, logits), "index"
    if kind == "bit":
        payload_array = np.packbits(shares.astype(np.uint8))
        expect = [(payload_array.shape, np.uint8)]
    else:
        payload_array = shares
        expect = [(shares.shape, U64)]
    if party.is_owner:
        party.exchange([payload_array], [((0,), np.uint8)])
        return Output(None, hashlib.sha256(payload_array.tobytes()).hexdigest())
    (theirs,) = party.exchange([np.zeros(0, np.uint8)], expect)
    commitment = hashlib.sha256(theirs.tobytes()).hexdigest()
    if kind == "bit":
        bits = np.unpackbits(theirs ^ payload_array, count=shares.size).astype(np.int64)
        return Output(np.asarray(arch.classes)[bits], commitment)
    total = shares + theirs
    if kind == "index":
        index = total.view(np.int64)
        return Output(np.asarray(arch.classes)[index], commitment)
    values = decode(total)
    if mode == "proba":
        p = np.clip(values, 0.0, 1.0)
        return Output(np.stack([1.0 - p, p], axis=1), commitment)
    if arch.task == "classifier" and arch.binary:
        return Output(values[:, 0], commitment)
    if arch.task == "regressor" and arch.widths[-1] == 1:
        return Output(values[:, 0], commitment)
    return Output(values, commitment)
