"""The dealer: a third party that hands out correlated randomness before the online phase.

The dealer never sees a row, a weight or a share of either; it only needs the public plan
(the model architecture, the number of rows and the output mode). It is trusted not to
collude with either party: its material combined with one party's view would reveal the
other party's inputs. Everything it produces comes from a CSPRNG keyed from `os.urandom`.

Kinds of material (one `Item` per protocol step, consumed in order by both parties):

- ``mul``: Beaver triple a, b, c = a·b (elementwise), additively shared.
- ``cross``: a matrix triple for the product of party 1's private X (n×d) with party 0's
  private W (d×k): party 1 gets A, party 0 gets B, and they get shares C0 + C1 = A·B.
- ``trunc``: r uniform and shares of r, r >> f and the top bit of r (exact truncation).
- ``and``: a boolean (XOR-shared) triple u, v, w = u & v on 64-bit words.
- ``bit``: a random bit shared both ways, XOR (boolean) and additively (arithmetic).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from insitu.mpc.errors import MaterialMismatch
from insitu.mpc.prg import Prg
from insitu.mpc.ring import Ring

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Request:
    """What one protocol step needs from the dealer."""

    kind: str
    shape: Shape
    param: int = 0


@dataclass
class Item:
    """One party's part of one dealer request."""

    request: Request
    arrays: dict[str, Ring]


@dataclass(frozen=True)
class PlanHeader:
    """The public plan that both parties check their material against before starting."""

    architecture_id: str
    n_rows: int
    mode: str


@dataclass
class PartyMaterial:
    """The dealer material one party consumes, in protocol order."""

    role: int
    header: PlanHeader
    items: list[Item]
    _next: int = field(default=0, repr=False)

    def take(self, kind: str, shape: Shape, param: int = 0) -> dict[str, Ring]:
        """The next item, which must be of the given kind and shape."""
        wanted = Request(kind, tuple(shape), param)
        if self._next >= len(self.items):
            raise MaterialMismatch(
                f"dealer material exhausted at step {self._next} ({wanted}); prepare material "
                "for this model, row count and output mode"
            )
        item = self.items[self._next]
        if item.request != wanted:
            raise MaterialMismatch(
                f"dealer material step {self._next} is {item.request}, protocol needs {wanted}; "
                "prepare material for this model, row count and output mode"
            )
        self._next += 1
        return item.arrays

    @property
    def nbytes(self) -> int:
        """Size of the material in bytes."""
        return sum(a.nbytes for item in self.items for a in item.arrays.values())

    def check_used_up(self) -> None:
        """Material is single-use and must match the plan exactly."""
        if self._next != len(self.items):
            raise MaterialMismatch(
                f"{len(self.items) - self._next} dealer items left unused; the material does "
                "not match this session"
            )


class Recorder:
    """Stands in for material during the planning pass: records requests, returns zeros."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def take(self, kind: str, shape: Shape, param: int = 0) -> dict[str, Ring]:
        """Record the request and return zero arrays of the right shapes."""
        self.requests.append(Request(kind, tuple(shape), param))
        return _zeros(kind, tuple(shape))


def _zeros(kind: str, shape: Shape) -> dict[str, Ring]:
    if kind == "cross":
        n, d, k = shape
        return {
            "A": np.zeros((n, d), np.uint64),
            "B": np.zeros((d, k), np.uint64),
            "C": np.zeros((n, k), np.uint64),
        }
    names = {"mul": "abc", "and": "uvw", "trunc": ("r", "rhi", "rmsb"), "bit": ("rb", "ra")}
    return {name: np.zeros(shape, np.uint64) for name in names[kind]}


@dataclass
class DealerMaterial:
    """Material for both parties of one session, and how long the dealer took."""

    owner: PartyMaterial
    buyer: PartyMaterial
    seconds: float


class Dealer:
    """Generates correlated randomness for a planned session."""

    def __init__(self, prg: Prg | None = None) -> None:
        self._prg = prg or Prg()

    def generate(self, header: PlanHeader, requests: list[Request]) -> DealerMaterial:
        """Material for every request of a plan, split into the two parties' parts."""
        start = time.perf_counter()
        owner: list[Item] = []
        buyer: list[Item] = []
        for request in requests:
            part0, part1 = self._make(request)
            owner.append(Item(request, part0))
            buyer.append(Item(request, part1))
        return DealerMaterial(
            PartyMaterial(0, header, owner),
            PartyMaterial(1, header, buyer),
            time.perf_counter() - start,
        )

    def _split(self, secret: Ring) -> tuple[Ring, Ring]:
        s0 = self._prg.uint64(secret.shape)
        return s0, secret - s0

    def _make(self, req: Request) -> tuple[dict[str, Ring], dict[str, Ring]]:
        prg = self._prg
        if req.kind == "mul":
            a, b = prg.uint64(req.shape), prg.uint64(req.shape)
            pairs = [self._split(a), self._split(b), self._split(a * b)]
            return _parts("abc", pairs)
        if req.kind == "cross":
            n, d, k = req.shape
            a, b = prg.uint64((n, d)), prg.uint64((d, k))
            c0, c1 = self._split(a @ b)
            return {"B": b, "C": c0}, {"A": a, "C": c1}
        if req.kind == "trunc":
            r = prg.uint64(req.shape)
            pairs = [
                self._split(r),
                self._split(r >> np.uint64(req.param)),
                self._split(r >> np.uint64(63)),
            ]
            return _parts(("r", "rhi", "rmsb"), pairs)
        if req.kind == "and":
            u, v = prg.uint64(req.shape), prg.uint64(req.shape)
            pairs = [_xor_split(prg, x) for x in (u, v, u & v)]
            return _parts("uvw", pairs)
        if req.kind == "bit":
            bit = prg.bits(req.shape)
            return _parts(("rb", "ra"), [_xor_split(prg, bit, 1), self._split(bit)])
        raise MaterialMismatch(f"unknown dealer request kind {req.kind!r}")


def _xor_split(prg: Prg, secret: Ring, width: int = 64) -> tuple[Ring, Ring]:
    s0 = prg.uint64(secret.shape)
    if width < 64:
        s0 &= np.uint64((1 << width) - 1)
    return s0, secret ^ s0


def _parts(
    names: str | tuple[str, ...], pairs: list[tuple[Ring, Ring]]
) -> tuple[dict[str, Ring], dict[str, Ring]]:
    return (
        {name: pair[0] for name, pair in zip(names, pairs, strict=True)},
        {name: pair[1] for name, pair in zip(names, pairs, strict=True)},
    )


def material_words(requests: list[Request]) -> int:
    """Number of 64-bit words a plan's material holds, both parties together."""
    per_kind = {"mul": 6, "and": 6, "trunc": 6, "bit": 4}
    total = 0
    for req in requests:
        if req.kind == "cross":
            n, d, k = req.shape
            total += n * d + d * k + 2 * n * k
        else:
            total += per_kind[req.kind] * math.prod(req.shape)
    return total
