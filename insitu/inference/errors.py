"""Errors of the private-inference marketplace service."""

from __future__ import annotations

from insitu.errors import InsituError


class InferenceError(InsituError):
    """A private-inference purchase or session could not go ahead."""


class OfferError(InferenceError):
    """An inference asset's offer (metadata) or an agreement's parameters are unusable."""


class DeliveryMismatch(InferenceError):
    """The on-chain fulfilment does not match what the buyer received or was promised."""


class DealerUnavailable(InferenceError):
    """The session's dealer did not answer, refused, or the owner's worker has no route to it."""
