"""The two parties' primitives on additive shares over Z_2^64.

Party 0 is the model owner (it holds the weights), party 1 the buyer (it holds the rows).
Every method is called by both parties in the same order with their own shares; a method
that takes a private input ignores the argument of the party that does not own it. Values
the parties open to each other are always masked by dealer randomness that is uniform on
the ring (or on {0, 1} for bits), so what a party sees is independent of the secrets.

Run with ``channel=None`` and a `dealer.Recorder` as material, the same code performs the
dealer's planning pass: no messages, zero arrays, and a list of the material it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from insitu.mpc.dealer import Shape
from insitu.mpc.errors import ProtocolAbort
from insitu.mpc.ring import FRAC_BITS, U64, Ring
from insitu.mpc.transport import Channel, Traffic

_ONE = U64(1)
_TOP = U64(63)
_KOGGE_STONE_SHIFTS = (1, 2, 4, 8, 16, 32)


class MaterialSource(Protocol):
    """Dealer material as the protocol consumes it (a `PartyMaterial` or a `Recorder`)."""

    def take(self, kind: str, shape: Shape, param: int = 0) -> dict[str, Ring]: ...


class Party:
    """One party's side of the protocol."""

    def __init__(self, role: int, channel: Channel | None, material: MaterialSource) -> None:
        self.role = role
        self.channel = channel
        self.material = material
        self.rounds = 0

    @property
    def is_owner(self) -> bool:
        """Party 0, the model owner."""
        return self.role == 0

    @property
    def traffic(self) -> Traffic:
        """Bytes exchanged so far (zeros during planning)."""
        return self.channel.traffic if self.channel is not None else Traffic()

    # messaging -----------------------------------------------------------------------------

    def exchange(
        self, send: Sequence[np.ndarray], expect: Sequence[tuple[Shape, type]]
    ) -> list[np.ndarray]:
        """One round: send arrays, receive the peer's arrays of the expected shapes/dtypes."""
        self.rounds += 1
        sizes = [int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in expect]
        if self.channel is None:
            return [np.zeros(shape, dtype) for shape, dtype in expect]
        payload = b"".join(np.ascontiguousarray(a).tobytes() for a in send)
        received = self.channel.exchange(payload)
        if len(received) != sum(sizes):
            self.channel.abort()
            raise ProtocolAbort(
                f"the peer sent {len(received)} bytes where {sum(sizes)} were due: it runs "
                "another plan (model, row count or mode)"
            )
        out, offset = [], 0
        for (shape, dtype), size in zip(expect, sizes, strict=True):
            out.append(
                np.frombuffer(received, dtype, size // np.dtype(dtype).itemsize, offset).reshape(
                    shape
                )
            )
            offset += size
        return out

    def open(self, *shares: Ring) -> list[Ring]:
        """Reveal shared values to both parties (callers only open masked values)."""
        peer = self.exchange(shares, [(s.shape, U64) for s in shares])
        return [mine + theirs for mine, theirs in zip(shares, peer, strict=True)]

    def open_xor(self, *shares: Ring) -> list[Ring]:
        """Reveal XOR-shared words to both parties."""
        peer = self.exchange(shares, [(s.shape, U64) for s in shares])
        return [mine ^ theirs for mine, theirs in zip(shares, peer, strict=True)]

    def public(self, value: Ring) -> Ring:
        """Shares of a public value: party 0 holds it, party 1 holds zero."""
        value = np.asarray(value, dtype=U64)
        return value.copy() if self.is_owner else np.zeros_like(value)

    # arithmetic ----------------------------------------------------------------------------

    def mul(self, x: Ring, y: Ring) -> Ring:
        """Elementwise product of two shared values (Beaver triple); scale adds up."""
        t = self.material.take("mul", x.shape)
        d, e = self.open(x - t["a"], y - t["b"])
        z = t["c"] + d * t["b"] + e * t["a"]
        return z + d * e if self.is_owner else z

    def cross_matmul(self, x: Ring | None, w: Ring | None, shape: tuple[int, int, int]) -> Ring:
        """Shares of X·W for the buyer's private X (n×d) and the owner's private W (d×k).

        The buyer sends E = X − A, the owner sends F = W − B; A and B are dealer masks known
        only to the buyer and the owner respectively, so each message is a one-time pad.
        X·W = E·W + A·F + A·B: the owner computes E·W + C0, the buyer A·F + C1.
        """
        n, d, k = shape
        t = self.material.take("cross", shape)
        if self.is_owner:
            assert w is not None
            (e,) = self.exchange([w - t["B"]], [((n, d), U64)])
            return e @ w + t["C"]
        assert x is not None
        (f,) = self.exchange([x - t["A"]], [((d, k), U64)])
        return t["A"] @ f + t["C"]

    def matmul_private(self, h: Ring, w: Ring | None, k: int) -> Ring:
        """Shares of H·W for shared H (n×d) and the owner's private W (d×k)."""
        n, d = h.shape
        cross = self.cross_matmul(None if self.is_owner else h, w, (n, d, k))
        if self.is_owner:
            assert w is not None
            return h @ w + cross
        return cross

    def truncate(self, x: Ring, bits: int = FRAC_BITS) -> Ring:
        """Shares of floor(x / 2^bits) or that plus one, for |x| < 2^62, always.

        Dealer-assisted truncation: open c = x + 2^62 + r with r uniform (c is uniform, so it
        reveals nothing). With x' = x + 2^62 in [0, 2^63), the wrap-around of x' + r happens
        exactly when r's top bit is set and c's is not, which is linear in the shares of r's
        top bit; hence floor(x'/2^f) = (c >> f) − (r >> f) + 2^(64−f)·wrap − borrow, where the
        borrow of the low bits is the only error (0 or 1 unit in the last place). Unlike
        local truncation (SecureML), there is no probability of a large error.
        """
        t = self.material.take("trunc", x.shape, bits)
        offset = U64(1 << 62)
        (c,) = self.open(x + offset + t["r"] if self.is_owner else x + t["r"])
        no_top = _ONE - (c >> _TOP)
        y = U64(1 << (64 - bits)) * no_top * t["rmsb"] - t["rhi"]
        if self.is_owner:
            y = y + (c >> U64(bits)) - U64(1 << (62 - bits))
        return y

    # boolean -------------------------------------------------------------------------------

    def and_(self, x: Ring, y: Ring) -> Ring:
        """Bitwise AND of XOR-shared words (boolean Beaver triple)."""
        t = self.material.take("and", x.shape)
        d, e = self.open_xor(x ^ t["u"], y ^ t["v"])
        z = t["w"] ^ (d & t["v"]) ^ (e & t["u"])
        return z ^ (d & e) if self.is_owner else z

    def msb(self, x: Ring) -> Ring:
        """XOR shares of the sign bit of shared x (A2B by a Kogge–Stone adder on words).

        x = x0 + x1: the owner's word x0 and the buyer's x1 are the two addends, each known
        to one party, so their XOR sharing is free; the carries take log2(64) = 6 levels
        of ANDs on 64-bit words, one round each (plus one for the generate bits).
        """
        zero = np.zeros_like(x)
        mine_a, mine_b = (x, zero) if self.is_owner else (zero, x)
        generate = self.and_(mine_a, mine_b)
        propagate = x
        for shift in _KOGGE_STONE_SHIFTS:
            s = U64(shift)
            if shift == _KOGGE_STONE_SHIFTS[-1]:
                generate = generate ^ self.and_(propagate, generate << s)
            else:
                both = self.and_(
                    np.stack([propagate, propagate]), np.stack([generate << s, propagate << s])
                )
                generate, propagate = generate ^ both[0], both[1]
        return (x ^ (generate << _ONE)) >> _TOP

    def ge_zero(self, x: Ring) -> Ring:
        """XOR shares of the bit [x ≥ 0]."""
        bit = self.msb(x)
        return bit ^ _ONE if self.is_owner else bit

    def mul_bit(self, x: Ring, bit: Ring) -> Ring:
        """Shares of x·b for shared x and XOR-shared bit b, in one round.

        With a dealer bit r (shared both ways), e = b ⊕ r is opened (uniform), and
        x·b = e·x + (1 − 2e)·x·r, where x·r uses a Beaver triple opened in the same round.
        """
        r = self.material.take("bit", x.shape)
        t = self.material.take("mul", x.shape)
        mine_e = np.packbits((bit ^ r["rb"]).astype(np.uint8).ravel())
        mine_d, mine_g = x - t["a"], r["ra"] - t["b"]
        e, d, g = self.exchange(
            [mine_e, mine_d, mine_g],
            [(mine_e.shape, np.uint8), (x.shape, U64), (x.shape, U64)],
        )
        e_bits = np.unpackbits(e ^ mine_e, count=x.size).reshape(x.shape).astype(U64)
        d, g = d + mine_d, g + mine_g
        xr = t["c"] + d * t["b"] + g * t["a"]
        if self.is_owner:
            xr = xr + d * g
        result = (_ONE - U64(2) * e_bits) * xr
        return result + e_bits * x
