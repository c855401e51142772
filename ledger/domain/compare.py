"""Field-by-field comparison of two exposure graphs: what ``ledger replay --verify`` prints.

Pure. Nodes are compared by entity id and every field of the node (its valuation and latest
actual revenue report included); edges as multisets of (deal, leg, payer, payee, instrument,
amount, GW, shares); exposures pair by pair. Each difference is one line naming the thing and
both values, so an auditor can see exactly where the live answer departs from the replay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, astuple

from .views import Graph


def differences(replayed: Graph, live: Graph) -> list[str]:
    """Every way ``live`` differs from ``replayed``; empty when they agree."""
    out: list[str] = []
    for entity_id in sorted(set(replayed.nodes) | set(live.nodes)):
        a, b = replayed.nodes.get(entity_id), live.nodes.get(entity_id)
        if a is None or b is None:
            out.append(
                f"node {entity_id}: {'absent' if a is None else 'present'} in the replay, "
                f"{'absent' if b is None else 'present'} in the read models"
            )
            continue
        left, right = asdict(a), asdict(b)
        for field in left:
            if left[field] != right[field]:
                out.append(
                    f"node {entity_id}.{field}: replay {left[field]!r}, read models {right[field]!r}"
                )
    edges_a, edges_b = Counter(map(astuple, replayed.edges)), Counter(map(astuple, live.edges))
    for edge in sorted((edges_a - edges_b).elements(), key=str):
        out.append(f"edge only in the replay: {_edge(edge)}")
    for edge in sorted((edges_b - edges_a).elements(), key=str):
        out.append(f"edge only in the read models: {_edge(edge)}")
    exp_a, exp_b = replayed.exposures(), live.exposures()
    for pair in sorted(set(exp_a) | set(exp_b)):
        if exp_a.get(pair) != exp_b.get(pair):
            out.append(
                f"exposure {pair[0]} -> {pair[1]}: replay {exp_a.get(pair)}, "
                f"read models {exp_b.get(pair)}"
            )
    return out


def _edge(edge: tuple) -> str:
    deal_id, leg, payer, payee, instrument, amount = edge[:6]
    return f"{deal_id}/{leg} {payer} -> {payee} {instrument} {amount}"
