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

# An id: lower-case words joined by single hyphens; a stream is a kind and an id.
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
STREAM = re.compile(rf"(entity|deal)/({SLUG.pattern})")
MAX_SLUG_LENGTH = 100
# The longest free text (a title, a note, a source field) an event may carry.
MAX_TEXT = 2000
