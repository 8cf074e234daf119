"""Private inference as a paid marketplace service: per-row pricing, the owner's worker, the
buyer's SDK call. See docs/private-inference.md ("Marketplace")."""

from insitu.inference.buyer import PrivatePrediction, buy_predictions, predict_private
from insitu.inference.errors import DealerUnavailable, DeliveryMismatch, InferenceError, OfferError
from insitu.inference.offer import (
    InferenceOffer,
    InferenceParams,
    address_of,
    inference_offer,
    public_key,
)
from insitu.inference.publish import publish_model

__all__ = [
    "DealerUnavailable",
    "DeliveryMismatch",
    "InferenceError",
    "InferenceOffer",
    "InferenceParams",
    "OfferError",
    "PrivatePrediction",
    "address_of",
    "buy_predictions",
    "inference_offer",
    "predict_private",
    "public_key",
    "publish_model",
]
