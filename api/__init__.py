"""The web edge: a Litestar app serving GraphQL (``api.graphql``), the dashboard, GraphiQL,
exports, health and metrics over the ledger's core; ``api.serve`` runs it under uvicorn.

Arrows point inward: this package imports ``ledger``, never the other way round.
"""
