"""Measures over the exposure graph at one point: money-flow cycles and the stress test."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from ..domain import analysis
from ..domain.errors import NotFound
from ._snapshot import Source
from .graph import graph


def circular_flows(
    source: Source,
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    basis: str = "HEADLINE",
    *,
    min_amount: Decimal = Decimal(0),
    through: str | None = None,
    limit: int | None = None,
    at_position: int | None = None,
    at_least: int | None = None,
) -> list[analysis.Cycle]:
    """The money-flow cycles of at most six entities at (as_of, known_at), largest first.

    Legs between the same ordered pair are summed before any threshold: the graph is asked
    only for the pairs whose flow reaches ``min_amount`` (``min_flow``, each pair whole), never
    for the legs that do, so the threshold decides which cycles are listed, not their amounts.
    """
    if through is not None:
        # Every leg of a cycle of six or fewer entities through an entity touches an entity
        # at most two legs away from it: three rounds of "legs touching" reach them all.
        edges = graph(
            source,
            as_of,
            known_at,
            basis,
            entity_ids=[through],
            hops=3,
            min_flow=min_amount,
            at_position=at_position,
            at_least=at_least,
        ).edges
    else:
        edges = graph(
            source,
            as_of,
            known_at,
            basis,
            min_flow=min_amount,
            at_position=at_position,
            at_least=at_least,
        ).edges
    return analysis.circular_flows(edges, min_amount=min_amount, through=through, limit=limit)


def stress_test(
    source: Source,
    defaulted: Sequence[str],
    recovery_rate: Decimal,
    threshold: Decimal,
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    basis: str = "HEADLINE",
    *,
    at_position: int | None = None,
    at_least: int | None = None,
) -> analysis.StressResult:
    """Default ``defaulted`` and follow the losses round by round (spec section 3)."""
    g = graph(source, as_of, known_at, basis, at_position=at_position, at_least=at_least)
    unknown = sorted(set(defaulted) - set(g.nodes))
    if unknown:
        raise NotFound(f"defaulted: no entity {', '.join(unknown)} at this as_of / known_at")
    valuations = {entity_id: node.valuation_usd for entity_id, node in g.nodes.items()}
    return analysis.stress_test(g.edges, valuations, defaulted, recovery_rate, threshold)
