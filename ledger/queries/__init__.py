"""Questions to the read models at (as_of, known_at), answered by indexed queries, not replay.

One question family per module: ``_snapshot`` (visibility and the read-only transaction),
``graph`` (nodes, edges, the exposure graph), ``entities``, ``deals``, ``measures`` (cycles,
stress), ``series`` (the one family folded from raw events), ``span`` and ``proofs`` (the
Merkle tree's checkpoints and proofs). The API and the CLI
call the functions re-exported here (``from ledger import queries; queries.graph(...)``); each
takes a ``Source`` first: an engine, or a ``Snapshot`` that several answers share.

The re-exports shadow the submodules of the same name (``queries.graph`` is the function);
inside the package, import names from a submodule (``from .graph import graph``), never the
submodule itself from the package.
"""

from ._fresh import READ_WAIT_SECONDS, Basis, Project
from ._snapshot import Snapshot, Source
from ._standby import COUNTERS as _STANDBY_COUNTERS
from .deals import MAX_PAGE, deal, deals, deals_by_id, deals_of
from .entities import entity, entity_views
from .graph import entities, graph
from .measures import circular_flows, stress_test
from .proofs import checkpoint, consistency, inclusion
from .series import series
from .span import span


def standby_counters() -> dict[str, int]:
    """How this process's snapshots on the read URL were served (``_standby``)."""
    return _STANDBY_COUNTERS.as_dict()


__all__ = [
    "MAX_PAGE",
    "READ_WAIT_SECONDS",
    "Basis",
    "Project",
    "Snapshot",
    "Source",
    "checkpoint",
    "circular_flows",
    "consistency",
    "deal",
    "deals",
    "deals_by_id",
    "deals_of",
    "entities",
    "entity",
    "entity_views",
    "graph",
    "inclusion",
    "series",
    "span",
    "standby_counters",
    "stress_test",
]
