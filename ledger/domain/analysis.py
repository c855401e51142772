"""The derived measures of the spec (section 3), as pure functions of a graph's edges and nodes.

Both the read-model queries and the replay oracle produce ``Edge`` and ``Node`` values, and
both hand them to these functions, so a measure is defined once. Amounts stay ``Decimal``
throughout; ratios are exact decimal divisions in the default 28-digit context.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .errors import ValidationError

# instrument -> whether the payer is the exposed party (else the payee is)
PAYER_EXPOSED = {
    "equity": True,
    "loan": True,
    "guarantee": True,
    "purchase": False,
    "backstop": False,
    "revenue_share": False,
    "warrant": False,
}
COMMITMENT_INSTRUMENTS = ("purchase", "backstop")
MAX_CYCLE_ENTITIES = 6
ZERO = Decimal(0)


def exposures(edges: Iterable[Any]) -> dict[tuple[str, str], Decimal]:
    """exposure(A, B): what A loses if B fails, summed over the live legs."""
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for edge in edges:
        if PAYER_EXPOSED[edge.instrument]:
            out[(edge.payer, edge.payee)] += edge.amount_usd
        else:
            out[(edge.payee, edge.payer)] += edge.amount_usd
    return dict(out)


@dataclass(frozen=True)
class EntityExposures:
    """``outgoing``: what the entity loses if each counterparty fails; ``incoming``: what each
    counterparty loses if the entity fails. Largest first."""

    outgoing: list[tuple[str, Decimal]]
    incoming: list[tuple[str, Decimal]]

    @property
    def total_out(self) -> Decimal:
        return sum((a for _, a in self.outgoing), ZERO)

    @property
    def total_in(self) -> Decimal:
        return sum((a for _, a in self.incoming), ZERO)


def _largest_first(items: Iterable[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    return sorted(items, key=lambda item: (-item[1], item[0]))


def entity_exposures(edges: Iterable[Any], entity_id: str) -> EntityExposures:
    pairs = exposures(edges)
    return EntityExposures(
        outgoing=_largest_first((b, a) for (e, b), a in pairs.items() if e == entity_id),
        incoming=_largest_first((e, a) for (e, b), a in pairs.items() if b == entity_id),
    )


def annualised(revenue_usd: Decimal, period_start: dt.date, period_end: dt.date) -> Decimal:
    """Revenue x 365 / days in the period, both ends of the period counted."""
    return revenue_usd * 365 / ((period_end - period_start).days + 1)


def commitments(edges: Iterable[Any], entity_id: str) -> Decimal:
    """What the entity has committed to buy: its live purchase and backstop legs as payer."""
    return sum(
        (
            e.amount_usd
            for e in edges
            if e.payer == entity_id and e.instrument in COMMITMENT_INSTRUMENTS
        ),
        ZERO,
    )


def commitment_ratio(edges: Iterable[Any], entity_id: str, revenue: Any | None) -> Decimal | None:
    """``commitments`` over the annualised revenue of ``revenue`` (a ``RevenueReport``); None
    when there is no report, or a zero one, to divide by."""
    annual = revenue.annualised_usd if revenue is not None else None
    if not annual:
        return None
    return commitments(edges, entity_id) / annual


@dataclass(frozen=True)
class Concentration:
    """Who buys from the entity: incoming purchase amounts by counterparty, largest first."""

    total: Decimal
    customers: list[tuple[str, Decimal]]

    def share(self, top: int = 1) -> Decimal | None:
        """The share of the total that the ``top`` largest customers bring; None if no sales."""
        if not self.total:
            return None
        return sum((a for _, a in self.customers[:top]), ZERO) / self.total


def customer_concentration(edges: Iterable[Any], entity_id: str) -> Concentration:
    by_customer: dict[str, Decimal] = defaultdict(Decimal)
    for e in edges:
        if e.payee == entity_id and e.instrument == "purchase":
            by_customer[e.payer] += e.amount_usd
    customers = _largest_first(by_customer.items())
    return Concentration(total=sum((a for _, a in customers), ZERO), customers=customers)


# -- circular flows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cycle:
    """An elementary cycle of the money-flow graph, starting at its smallest entity id."""

    entities: tuple[str, ...]
    amount_usd: Decimal  # the smallest edge amount on it


def flow_amounts(edges: Iterable[Any]) -> dict[tuple[str, str], Decimal]:
    """Money flows payer -> payee, legs between the same ordered pair summed."""
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for e in edges:
        out[(e.payer, e.payee)] += e.amount_usd
    return dict(out)


def circular_flows(
    edges: Iterable[Any],
    *,
    min_amount: Decimal = ZERO,
    through: str | None = None,
    max_entities: int = MAX_CYCLE_ENTITIES,
    limit: int | None = None,
) -> list[Cycle]:
    """The elementary cycles of at most ``max_entities`` entities whose circular amount is at
    least ``min_amount`` (optionally only those through one entity), largest amount first;
    with ``limit``, only the ``limit`` largest.

    Why it is fast enough: a hub of a dense web lies on millions of short cycles, and an
    analyst wants the largest. A cycle's amount is its smallest edge, so the cycles of amount
    at least t are exactly the cycles of the graph without the edges below t. The search looks
    for the lowest such t whose graph holds at most ``limit`` cycles (counting stops at
    ``limit + 1``), by bisection over the distinct amounts, and lists that graph's cycles.
    Without ``limit`` every cycle is listed, which on a dense web can take very long.
    """
    flows = {
        pair: a for pair, a in flow_amounts(edges).items() if a >= min_amount and pair[0] != pair[1]
    }
    if limit is None:
        found = _cycles(flows, through, max_entities, cap=None)
    else:
        amounts = sorted(set(flows.values()), reverse=True)
        lo, hi = 0, len(amounts) - 1  # thresholds amounts[lo] (high) .. amounts[hi] (low)
        best: list[Cycle] = []
        while lo <= hi:
            mid = (lo + hi) // 2
            kept = {p: a for p, a in flows.items() if a >= amounts[mid]}
            cycles = _cycles(kept, through, max_entities, cap=limit)
            if len(cycles) <= limit:
                best, lo = cycles, mid + 1  # few enough: try a lower threshold
            else:
                hi = mid - 1
        if lo < len(amounts):
            # The next threshold down has too many: they all tie at amounts[lo] below the
            # ones found, so any of them fill the remaining places.
            kept = {p: a for p, a in flows.items() if a >= amounts[lo]}
            found = list(set(best) | set(_cycles(kept, through, max_entities, cap=limit)))
        else:
            found = best
    found.sort(key=lambda c: (-c.amount_usd, c.entities))
    return found[:limit] if limit is not None else found


class _Enough(Exception):
    pass


def _cycles(
    flows: Mapping[tuple[str, str], Decimal],
    through: str | None,
    max_entities: int,
    cap: int | None,
) -> list[Cycle]:
    """The cycles of ``flows`` (at most ``cap + 1`` of them when ``cap`` is given)."""
    successors: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    predecessors: dict[str, list[str]] = defaultdict(list)
    for (payer, payee), amount in flows.items():
        successors[payer].append((payee, amount))
        predecessors[payee].append(payer)
    for targets in successors.values():
        targets.sort()
    found: list[Cycle] = []
    try:
        for start in [through] if through is not None else sorted(successors):
            # Each cycle once: from its smallest entity (or from `through`, which it contains).
            allowed = start.__ne__ if through is not None else start.__lt__
            back = _distances_back(start, predecessors, max_entities - 1, allowed)
            _cycles_from(start, successors, back, max_entities, found, cap)
    except _Enough:
        pass
    return found


def _cycles_from(
    start: str,
    successors: Mapping[str, list[tuple[str, Decimal]]],
    back: Mapping[str, int],
    max_entities: int,
    found: list[Cycle],
    cap: int | None = None,
) -> None:
    """Depth-first from ``start``, entering only nodes that can still get back in time."""
    path, on_path = [start], {start}

    def extend(node: str, smallest: Decimal | None) -> None:
        for nxt, amount in successors.get(node, ()):
            low = amount if smallest is None or amount < smallest else smallest
            if nxt == start:
                found.append(Cycle(_canonical(path), low))
                if cap is not None and len(found) > cap:
                    raise _Enough
            elif nxt not in on_path and nxt in back and len(path) + back[nxt] <= max_entities:
                path.append(nxt)
                on_path.add(nxt)
                extend(nxt, low)
                path.pop()
                on_path.discard(nxt)

    extend(start, None)


def _distances_back(
    start: str, predecessors: Mapping[str, list[str]], bound: int, allowed: Any
) -> dict[str, int]:
    """Steps from each node back to ``start`` (at most ``bound``), through allowed nodes only."""
    distance = {start: 0}
    frontier = [start]
    for step in range(1, bound + 1):
        nxt = []
        for node in frontier:
            for p in predecessors.get(node, ()):
                if p not in distance and allowed(p):
                    distance[p] = step
                    nxt.append(p)
        frontier = nxt
    distance.pop(start)
    return distance


def _canonical(path: Sequence[str]) -> tuple[str, ...]:
    i = min(range(len(path)), key=path.__getitem__)
    return tuple(path[i:]) + tuple(path[:i])


# -- stress test --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loss:
    entity_id: str
    loss_usd: Decimal
    share_of_valuation: Decimal | None  # None when the entity has no valuation


@dataclass(frozen=True)
class StressRound:
    number: int
    defaulted: tuple[str, ...]  # who defaulted going into this round (cumulative)
    losses: list[Loss]  # every surviving entity with a loss, largest first
    new_defaults: tuple[str, ...]  # whose loss reached the threshold in this round


@dataclass(frozen=True)
class StressResult:
    rounds: list[StressRound] = field(default_factory=list)

    @property
    def defaulted(self) -> tuple[str, ...]:
        last = self.rounds[-1]
        return tuple(sorted(last.defaulted + last.new_defaults))


def stress_test(
    edges: Iterable[Any],
    valuations: Mapping[str, Decimal | None],
    defaulted: Iterable[str],
    recovery_rate: Decimal,
    threshold: Decimal,
) -> StressResult:
    """Default ``defaulted``; each other entity loses its exposure to the defaulted times
    (1 - recovery_rate); whoever loses at least ``threshold`` of its valuation defaults next
    round; repeat until no one new defaults. Entities without a valuation take losses but
    never default by the threshold (there is nothing to compare the loss with)."""
    if not ZERO <= recovery_rate <= 1:
        raise ValidationError("recovery_rate", f"must be between 0 and 1, got {recovery_rate}")
    if threshold <= 0:
        raise ValidationError("threshold", f"must be above 0, got {threshold}")
    pairs = exposures(edges)
    down = set(defaulted)
    result = StressResult()
    while True:
        loss: dict[str, Decimal] = defaultdict(Decimal)
        for (exposed, counterparty), amount in pairs.items():
            if counterparty in down and exposed not in down and amount:
                loss[exposed] += amount * (1 - recovery_rate)
        losses = []
        new = []
        for entity_id, amount in loss.items():
            valuation = valuations.get(entity_id)
            share = amount / valuation if valuation else None
            losses.append(Loss(entity_id, amount, share))
            if share is not None and share >= threshold:
                new.append(entity_id)
        losses.sort(key=lambda x: (-x.loss_usd, x.entity_id))
        result.rounds.append(
            StressRound(len(result.rounds) + 1, tuple(sorted(down)), losses, tuple(sorted(new)))
        )
        if not new:
            return result
        down.update(new)
