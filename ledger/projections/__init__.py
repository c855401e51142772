"""Projections: the bitemporal read-model tables kept from the event log (statements), the
projector that tails the log into them, the follower that runs it in a service, the rebuild,
a digest of the tables, and the caching horizon they define. The questions they answer live
in ``ledger.queries``."""
