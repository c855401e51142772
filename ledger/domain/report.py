"""The analyst's report: what an exposure graph says, in the few tables an analyst reads first.

Pure: it takes graphs (``views.Graph``) and returns plain rows, so the CLI can print them as
tables, Markdown or JSON, and a test can check them without a database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from . import analysis
from .views import Graph

ZERO = Decimal(0)


@dataclass(frozen=True)
class ExposureRow:
    exposed: str
    counterparty: str
    amount_usd: Decimal
    share_of_valuation: Decimal | None  # of the exposed entity's latest valuation


@dataclass(frozen=True)
class CycleRow:
    entities: tuple[str, ...]
    amount_usd: Decimal


@dataclass(frozen=True)
class EntityRow:
    entity_id: str
    name: str
    valuation_usd: Decimal | None
    commitments_usd: Decimal
    commitment_ratio: Decimal | None
    top_customer: str | None
    top_customer_share: Decimal | None


@dataclass(frozen=True)
class ChangeRow:
    exposed: str
    counterparty: str
    before_usd: Decimal
    after_usd: Decimal

    @property
    def change_usd(self) -> Decimal:
        return self.after_usd - self.before_usd


@dataclass
class Report:
    as_of: dt.datetime
    known_at: dt.datetime
    basis: str
    exposures: list[ExposureRow]
    cycles: list[CycleRow]
    entities: list[EntityRow]
    since: dt.datetime | None = None
    changes: list[ChangeRow] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = asdict(self)
        for row, change in zip(out["changes"], self.changes, strict=True):
            row["change_usd"] = change.change_usd
        return out


def build(graph: Graph, *, top: int = 15, earlier: Graph | None = None) -> Report:
    """The report of ``graph``; with ``earlier`` (the same question at an earlier asOf), the
    exposures that appeared, grew, shrank or went away since."""
    valuations = {i: n.valuation_usd for i, n in graph.nodes.items()}
    exposures = sorted(
        (
            ExposureRow(a, b, amount, _share(amount, valuations.get(a)))
            for (a, b), amount in graph.exposures().items()
            if amount
        ),
        key=lambda r: (-r.amount_usd, r.exposed, r.counterparty),
    )[:top]
    cycles = [
        CycleRow(c.entities, c.amount_usd) for c in analysis.circular_flows(graph.edges, limit=top)
    ]
    entities = []
    for entity_id, node in sorted(graph.nodes.items()):
        concentration = analysis.customer_concentration(graph.edges, entity_id)
        entities.append(
            EntityRow(
                entity_id=entity_id,
                name=node.name,
                valuation_usd=node.valuation_usd,
                commitments_usd=analysis.commitments(graph.edges, entity_id),
                commitment_ratio=analysis.commitment_ratio(graph.edges, entity_id, node.revenue),
                top_customer=concentration.customers[0][0] if concentration.customers else None,
                top_customer_share=concentration.share(1),
            )
        )
    entities.sort(key=lambda r: (-r.commitments_usd, -(r.valuation_usd or ZERO), r.entity_id))
    report = Report(graph.as_of, graph.known_at, graph.basis, exposures, cycles, entities)
    if earlier is not None:
        report.since = earlier.as_of
        report.changes = changes(earlier.exposures(), graph.exposures())[:top]
    return report


def changes(
    before: dict[tuple[str, str], Decimal], after: dict[tuple[str, str], Decimal]
) -> list[ChangeRow]:
    """Every exposure that differs between two graphs, the largest change first."""
    rows = [
        ChangeRow(a, b, before.get((a, b), ZERO), after.get((a, b), ZERO))
        for a, b in set(before) | set(after)
        if before.get((a, b), ZERO) != after.get((a, b), ZERO)
    ]
    rows.sort(key=lambda r: (-abs(r.change_usd), r.exposed, r.counterparty))
    return rows


def _share(amount: Decimal, valuation: Decimal | None) -> Decimal | None:
    return amount / valuation if valuation else None
