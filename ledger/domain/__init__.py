"""The pure domain: event envelopes, validation and the hash chain's canonical encoding.

Nothing here performs I/O or imports SQLAlchemy, Litestar or Strawberry; the adapters
around it (store, API, CLI) depend on it, never the other way round.
"""
