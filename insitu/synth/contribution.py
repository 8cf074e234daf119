"""A provider's published contribution: DP generator parameters plus their privacy record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from insitu.synth.errors import SynthError
from insitu.synth.generator import CopulaGenerator

FORMAT = "insitu.synth.contribution/v1"


@dataclass(frozen=True)
class Contribution:
    """What a provider publishes (e.g. on IPFS): nothing here is a raw row.

    ``spent_epsilon`` is the RDP accountant's epsilon at ``delta`` for the noise actually
    added (``None``: no DP, i.e. unbounded). ``n_rows`` is the sum of the noisy class counts
    under DP, so it is as private as the rest.
    """

    participant: str
    params: Mapping[str, Any]
    spent_epsilon: float | None
    delta: float
    n_rows: int
    noise: Mapping[str, Any] | None = None

    def generator(self) -> CopulaGenerator:
        """The contribution's generator, validated."""
        return CopulaGenerator.from_dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable record."""
        return {
            "format": FORMAT,
            "participant": self.participant,
            "params": self.params,
            "spent_epsilon": self.spent_epsilon,
            "delta": self.delta,
            "n_rows": self.n_rows,
            "noise": self.noise,
        }

    def to_json(self) -> bytes:
        """Canonical JSON bytes (sorted keys, no spaces): what gets hashed and published."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode()

    @property
    def contribution_id(self) -> str:
        """The SHA-256 of the canonical JSON, hex: stable across machines."""
        return hashlib.sha256(self.to_json()).hexdigest()

    @classmethod
    def from_json(cls, data: bytes | str) -> Contribution:
        """Parse published bytes, checking the format and the parameters."""
        obj = json.loads(data)
        if obj.get("format") != FORMAT:
            raise SynthError(f"not a {FORMAT} document (format={obj.get('format')!r})")
        contribution = cls(
            participant=obj["participant"],
            params=obj["params"],
            spent_epsilon=obj["spent_epsilon"],
            delta=float(obj["delta"]),
            n_rows=int(obj["n_rows"]),
            noise=obj.get("noise"),
        )
        contribution.generator()
        return contribution
