"""Ids for events whose caller gave none: time-ordered UUIDs (version 7, RFC 9562)."""

from __future__ import annotations

import os
import time
import uuid

_UUID_INT = uuid.UUID.__dict__["int"].__set__
_UUID_SAFE = uuid.UUID.__dict__["is_safe"].__set__
# UUID version 7 (RFC 9562): 48 bits of Unix time in milliseconds, the version (7), 12 random
# bits, the variant (0b10) and 62 random bits.
_V7_RANDOM = (1 << 80) - 1
_V7_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_V7_BITS = (0x7 << 76) | (0x2 << 62)


def new_event_id(random: bytes | None = None) -> uuid.UUID:
    """An id for an event whose caller gave none: a version-7 UUID (RFC 9562), its first 48
    bits the time in milliseconds and 74 of the rest random (from the operating system, or
    the first 10 bytes of ``random``).

    Why time-ordered: ``events_event_id_key`` is a B-tree, and random (version-4) ids put
    each event of a batch on a different leaf page -- a thousand pages read, dirtied and,
    after a checkpoint, written whole into the WAL for a 1,000-event append; ids that grow
    with time go to the right edge of the index, a few pages per batch (a third less server
    CPU per large append, docs/performance.md). Made without ``UUID.__init__``'s argument
    checks, which cost more than the rest; a test checks the result against ``UUID``."""
    rand = int.from_bytes((random or os.urandom(10))[:10], "big")
    value = (((time.time_ns() // 1_000_000) << 80) | (rand & _V7_RANDOM)) & _V7_MASK | _V7_BITS
    made = object.__new__(uuid.UUID)
    _UUID_INT(made, value)
    _UUID_SAFE(made, uuid.SafeUUID.unknown)
    return made
