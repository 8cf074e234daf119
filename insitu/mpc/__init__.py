"""Private inference: two-party computation on additive shares over Z_2^64.

See docs/private-inference.md for the protocol, the trust model and the error bounds.
"""

from insitu.mpc.api import (
    WHAT_EACH_PARTY_LEARNS,
    Buyer,
    ModelOwner,
    SessionReport,
    plan,
    prepare_material,
    share_model,
)
from insitu.mpc.dealer import Dealer, DealerMaterial, PartyMaterial
from insitu.mpc.errors import (
    MaterialMismatch,
    MPCError,
    PeerTimeout,
    ProtocolAbort,
    UnsupportedModel,
)
from insitu.mpc.model import Architecture, SecretModel
from insitu.mpc.transport import Channel, accept, channel_pair, connect, handshake, run_two_party

__all__ = [
    "WHAT_EACH_PARTY_LEARNS",
    "Architecture",
    "Buyer",
    "Channel",
    "Dealer",
    "DealerMaterial",
    "MPCError",
    "MaterialMismatch",
    "ModelOwner",
    "PartyMaterial",
    "PeerTimeout",
    "ProtocolAbort",
    "SecretModel",
    "SessionReport",
    "UnsupportedModel",
    "accept",
    "channel_pair",
    "connect",
    "handshake",
    "plan",
    "prepare_material",
    "run_two_party",
    "share_model",
]
