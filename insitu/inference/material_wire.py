"""Send one party's dealer material as bytes without pickle (the receiver must not run code).

Layout: 8-byte length of a JSON header, the header (role, plan, and per item the request and
the array names), then every array's raw little-endian uint64 words in header order.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from insitu.inference.errors import InferenceError
from insitu.mpc.dealer import Item, PartyMaterial, PlanHeader, Request

_LEN = struct.Struct(">Q")


def encode_material(material: PartyMaterial) -> bytes:
    """Serialise ``material`` (unconsumed) for the wire."""
    items = [
        {
            "kind": it.request.kind,
            "shape": list(it.request.shape),
            "param": it.request.param,
            "arrays": [[name, list(arr.shape)] for name, arr in it.arrays.items()],
        }
        for it in material.items
    ]
    h = material.header
    header = json.dumps(
        {"role": material.role, "plan": [h.architecture_id, h.n_rows, h.mode], "items": items}
    ).encode()
    body = b"".join(
        np.ascontiguousarray(arr, dtype="<u8").tobytes()
        for it in material.items
        for arr in it.arrays.values()
    )
    return _LEN.pack(len(header)) + header + body


def decode_material(data: bytes) -> PartyMaterial:
    """Parse ``encode_material`` output; ``InferenceError`` on any inconsistency."""
    try:
        (n,) = _LEN.unpack_from(data)
        header = json.loads(data[8 : 8 + n])
        offset = 8 + n
        items = []
        for entry in header["items"]:
            arrays = {}
            for name, shape in entry["arrays"]:
                count = int(np.prod(shape, dtype=np.int64))
                end = offset + 8 * count
                if end > len(data):
                    raise ValueError("truncated material")
                arrays[str(name)] = (
                    np.frombuffer(data[offset:end], dtype="<u8").astype(np.uint64).reshape(shape)
                )
                offset = end
            request = Request(str(entry["kind"]), tuple(entry["shape"]), int(entry["param"]))
            items.append(Item(request, arrays))
        if offset != len(data):
            raise ValueError("trailing bytes after the material")
        arch_id, n_rows, mode = header["plan"]
        return PartyMaterial(int(header["role"]), PlanHeader(arch_id, int(n_rows), mode), items)
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise InferenceError(f"malformed dealer material from the model owner: {exc}") from exc
