"""The event store: the domain's events recorded in PostgreSQL, appended, read and verified."""

from .event_store import EventStore, Head

__all__ = ["EventStore", "Head"]
