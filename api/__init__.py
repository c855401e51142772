"""The web edge: a Litestar app over the ledger's core (GraphQL arrives with the API issue)."""
