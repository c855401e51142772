"""Moving events in and out of the ledger: import, export, restore, and the bundled seed."""
