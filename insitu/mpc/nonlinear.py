"""Non-linear functions on shares: ReLU, sigmoid and argmax.

The sigmoid is piecewise: 0 below −10, 1 from +10, and in between six degree-5
polynomials, each fitted on Chebyshev nodes of its interval in a local variable t = x − c
(well conditioned: |t| ≤ 5/3). Approximation error ≤ 6e-5 (tested), fixed-point error adds
≈ 1e-5; the total stays far inside the 1e-3 budget. Selection is oblivious: with
b_j = [x ≥ t_j], sigmoid ≈ p_0 + Σ_j b_j·(p_{j+1} − p_j). Every piece is evaluated for
every input; a piece evaluated far outside its interval may overflow the fixed-point range,
but its garbage cancels exactly in the telescoping sum (ring arithmetic is exact).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import NDArray

from insitu.mpc.protocol import Party
from insitu.mpc.ring import FRAC_BITS, U64, Ring, encode

SIGMOID_BOUND = 10.0
SIGMOID_PIECES = 6
SIGMOID_DEGREE = 5


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))


@cache
def sigmoid_pieces() -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Public approximation: thresholds (K+1), centres (K) and coefficients (K × degree+1)."""
    edges = np.linspace(-SIGMOID_BOUND, SIGMOID_BOUND, SIGMOID_PIECES + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    half = (edges[1] - edges[0]) / 2
    nodes = np.cos(np.pi * (np.arange(64) + 0.5) / 64) * half
    coefs = np.stack(
        [
            np.polynomial.polynomial.polyfit(nodes, _sigmoid(c + nodes), SIGMOID_DEGREE)
            for c in centres
        ]
    )
    return edges, centres, coefs


def sigmoid_plain(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The approximation evaluated in the clear (float64), to test the approximation error."""
    edges, centres, coefs = sigmoid_pieces()
    out = np.where(x < edges[0], 0.0, 1.0)
    for j, c in enumerate(centres):
        inside = (x >= edges[j]) & (x < edges[j + 1])
        out = np.where(inside, np.polynomial.polynomial.polyval(x - c, coefs[j]), out)
    return out


def relu(party: Party, x: Ring) -> Ring:
    """Shares of max(x, 0)."""
    return party.mul_bit(x, party.ge_zero(x))


def sigmoid(party: Party, x: Ring) -> Ring:
    """Shares of sigmoid(x) for shared x of shape (n,), fixed point in and out."""
    edges, centres, coefs = sigmoid_pieces()
    n, k = x.shape[0], len(centres)
    t = x[:, None] - party.public(encode(centres))[None, :]
    t2 = party.truncate(party.mul(t, t))
    t3, t4 = party.truncate(party.mul(np.stack([t2, t2]), np.stack([t, t2])))
    t5 = party.truncate(party.mul(t4, t))
    powers = np.stack([t, t2, t3, t4, t5])  # (degree, n, k)
    coef = encode(coefs.T)  # (degree+1, k)
    acc = np.einsum("dnk,dk->nk", powers, coef[1:]) if n else np.zeros((0, k), U64)
    acc = acc + party.public(encode(coefs[:, 0], 2 * FRAC_BITS))[None, :]
    inner = party.truncate(acc)  # (n, k)
    values = np.concatenate(
        [
            party.public(encode(np.zeros((n, 1)))),
            inner,
            party.public(encode(np.ones((n, 1)))),
        ],
        axis=1,
    )  # p_0 .. p_{k+1}
    bits = party.ge_zero(x[:, None] - party.public(encode(edges))[None, :])  # (n, k+1)
    steps = party.mul_bit(values[:, 1:] - values[:, :-1], bits)
    return values[:, 0] + steps.sum(axis=1, dtype=U64)


def argmax(party: Party, scores: Ring) -> Ring:
    """Arithmetic shares of the index of the largest score per row (first one on ties).

    A tournament: ⌈log2 K⌉ levels, each one comparison and one oblivious selection of both
    the winning score and its index; nothing but masked values is opened.
    """
    n, k = scores.shape
    values = scores
    index = party.public(np.broadcast_to(np.arange(k, dtype=U64), (n, k)))
    while values.shape[1] > 1:
        m = values.shape[1] // 2 * 2
        left, right = values[:, 0:m:2], values[:, 1:m:2]
        ileft, iright = index[:, 0:m:2], index[:, 1:m:2]
        keep_left = party.ge_zero(left - right)
        chosen = party.mul_bit(
            np.stack([left - right, ileft - iright]), np.stack([keep_left, keep_left])
        )
        new_values, new_index = right + chosen[0], iright + chosen[1]
        if m < values.shape[1]:
            new_values = np.concatenate([new_values, values[:, m:]], axis=1)
            new_index = np.concatenate([new_index, index[:, m:]], axis=1)
        values, index = new_values, new_index
    return index[:, 0]
