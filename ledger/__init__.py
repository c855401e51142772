"""The deal ledger: an event-sourced, bitemporal record of the AI boom's deal web.

The core is importable without a web server: ``ledger.domain`` is pure, ``ledger.store``
adapts it to PostgreSQL, ``ledger.cli`` is the ``ledger`` command (the web app adds ``serve`` to it
as a plugin; nothing here imports ``api``).
"""

__version__ = "0.1.0"
