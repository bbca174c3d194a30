"""Checking a model offer before anything is downloaded: well-formed, signed by the collector's
model-signing key, and addressed to this agent."""

from __future__ import annotations

from collections.abc import Collection

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.contract.rollout import ModelOffer, RolloutError, parse_offer, signed_bytes


class OfferRefused(Exception):
    """An offer this agent will not act on; reported as ``refused_signature``."""


def verify_offer(offer: ModelOffer, signing_key: str, devices: Collection[str]) -> None:
    """Raise :class:`OfferRefused` unless ``offer`` carries a valid Ed25519 signature of
    :func:`~edge.contract.rollout.signed_bytes` by ``signing_key`` (hex; "" refuses every offer)
    and names one of ``devices`` (the agent's and its cameras' device names)."""
    if not signing_key:
        raise OfferRefused("this device has no model_signing_key in its credentials (re-issue them with "
                           "'keys add-device'), so it accepts no offer")
    if not offer.signature:
        raise OfferRefused("the offer is unsigned")
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(signing_key)).verify(
            bytes.fromhex(offer.signature), signed_bytes(offer))
    except (InvalidSignature, ValueError):
        raise OfferRefused("the offer's signature does not verify with the credentials' model_signing_key") from None
    if offer.device not in devices:
        raise OfferRefused(f"the offer is for device {offer.device!r}, not this one")


def read_offer(doc: dict) -> ModelOffer | None:
    """The offer in a reply, or None when it breaks the contract (nothing to report it against)."""
    try:
        return parse_offer(doc)
    except RolloutError:
        return None
