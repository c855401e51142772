"""``python -m ledger.cli``: the same command as the ``ledger`` script, every group included."""

from . import main

main()
