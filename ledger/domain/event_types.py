"""The event types of the spec (section 1) and the streams they belong to.

The envelope refuses any other type name; the per-type data rules live with each event family.
"""

from __future__ import annotations

import re

ENTITY_EVENT_TYPES: tuple[str, ...] = (
    "EntityRegistered",
    "EntityRenamed",
    "ValuationReported",
    "RevenueReported",
)
DEAL_EVENT_TYPES: tuple[str, ...] = (
    "DealAnnounced",
    "DealAmended",
    "TrancheFunded",
    "DealTerminated",
)
# A retraction belongs to the stream of the event it retracts.
ANY_STREAM_EVENT_TYPES: tuple[str, ...] = ("EventRetracted",)

EVENT_TYPES: frozenset[str] = frozenset(
    ENTITY_EVENT_TYPES + DEAL_EVENT_TYPES + ANY_STREAM_EVENT_TYPES
)

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
STREAM_KINDS: tuple[str, ...] = ("entity", "deal")
STREAM = re.compile(r"(entity|deal)/([a-z0-9]+(?:-[a-z0-9]+)*)")
MAX_SLUG_LENGTH = 100


def stream_for(kind: str, slug: str) -> str:
    """The stream name of an entity or deal, e.g. ``entity/openai`` or ``deal/nvidia-openai-2025-09``."""
    return f"{kind}/{slug}"
