"""The deal ledger: an event-sourced, bitemporal record of the AI boom's deal web.

The core is importable without a web server: ``ledger.domain`` is pure, ``ledger.store``
adapts it to PostgreSQL, ``ledger.cli`` is the ``ledger`` command.
"""

__version__ = "0.1.0"
