"""Read models: bitemporal tables kept from the event log by the projector, and their queries."""
