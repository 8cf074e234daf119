"""Key derivation shared by every protocol that turns an ECDH secret into keys or seeds.

Secure summation of federated queries, secure aggregation masks and the MPC channel keys all
use HKDF-SHA256 (RFC 5869) from pycryptodome (installed with eciespy), each with its own
``info`` label so that one key pair can serve several protocols without key reuse.
"""

from __future__ import annotations

from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 of ``ikm``; an empty ``salt`` means RFC 5869's zero salt.

    Example::

        >>> hkdf_sha256(b"secret", b"", b"insitu/example", 8).hex()
        'a66ed3805780ad60'
    """
    out = HKDF(ikm, length, salt or None, SHA256, context=info)
    assert isinstance(out, bytes)  # a single key was requested
    return out
