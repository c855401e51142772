"""The pure domain: event types and their validation, the envelope, the hash chain and its
canonical encoding, the decisions of the write side, and the folds of the read side (views,
the replay oracle, analysis, series, reports).

Nothing here performs I/O or imports SQLAlchemy, Litestar or Strawberry; the adapters
around it (store, API, CLI) depend on it, never the other way round.
"""
