"""Printing the analyst's report (``ledger.domain.report``) as terminal tables, Markdown or
JSON, and the auditor's replay (``ledger.audit``) as tables or JSON.

Tables and Markdown round amounts for reading ($1.5B); JSON keeps them exact, as strings.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from rich.console import Console
from rich.table import Table

from .domain.money import format_usd
from .domain.report import Report

if TYPE_CHECKING:
    from .audit import Replay


def usd(amount: Decimal | None) -> str:
    if amount is None:
        return "–"
    for size, suffix in ((Decimal(10**12), "T"), (Decimal(10**9), "B"), (Decimal(10**6), "M")):
        if abs(amount) >= size:
            return f"${amount / size:,.1f}{suffix}"
    return f"${amount:,.0f}"


def share(value: Decimal | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def ratio(value: Decimal | None) -> str:
    return "–" if value is None else f"{value:,.2f}×"


def _sections(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    sections = [
        (
            "Largest exposures (what the first loses if the second fails)",
            ["exposed", "counterparty", "amount", "of its valuation"],
            [
                [r.exposed, r.counterparty, usd(r.amount_usd), share(r.share_of_valuation)]
                for r in report.exposures
            ],
        ),
        (
            "Circular flows (amount = smallest leg on the cycle)",
            ["cycle", "amount"],
            [[" → ".join((*c.entities, c.entities[0])), usd(c.amount_usd)] for c in report.cycles],
        ),
        (
            "Entities",
            [
                "entity",
                "valuation",
                "commitments",
                "commitment ratio",
                "top customer",
                "its share",
            ],
            [
                [
                    r.entity_id,
                    usd(r.valuation_usd),
                    usd(r.commitments_usd),
                    ratio(r.commitment_ratio),
                    r.top_customer or "–",
                    share(r.top_customer_share),
                ]
                for r in report.entities
            ],
        ),
    ]
    if report.since is not None:
        sections.append(
            (
                f"Change in exposures since {report.since.date().isoformat()}",
                ["exposed", "counterparty", "before", "after", "change"],
                [
                    [
                        c.exposed,
                        c.counterparty,
                        usd(c.before_usd),
                        usd(c.after_usd),
                        ("+" if c.change_usd > 0 else "") + usd(c.change_usd),
                    ]
                    for c in report.changes
                ],
            )
        )
    return sections


def _title(report: Report) -> str:
    return (
        f"Deal ledger report: asOf {report.as_of.date().isoformat()}, "
        f"knownAt {report.known_at.isoformat().replace('+00:00', 'Z')}, basis {report.basis}"
    )


def print_tables(report: Report, console: Console) -> None:
    console.print(f"[bold]{_title(report)}[/]", highlight=False)
    for title, headers, rows in _sections(report):
        table = Table(title=title, title_justify="left", title_style="bold")
        for i, header in enumerate(headers):
            table.add_column(header, justify="left" if i == 0 or header == "cycle" else "right")
        for row in rows:
            table.add_row(*row)
        if not rows:
            table.add_row(*(["none"] + [""] * (len(headers) - 1)))
        console.print(table)


def markdown(report: Report) -> str:
    lines = [f"# {_title(report)}", ""]
    for title, headers, rows in _sections(report):
        lines += [f"## {title}", ""]
        if not rows:
            lines += ["None.", ""]
            continue
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("| " + " | ".join("---" for _ in headers) + " |")
        lines += [
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
        ]
        lines.append("")
    return "\n".join(lines)


def _exact(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_usd(value) if value >= 0 else "-" + format_usd(-value)
    raise TypeError


def json_bytes(report: Report) -> bytes:
    return orjson.dumps(
        report.as_dict(), default=_exact, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z
    )


def replay_json(result: Replay, as_of: dt.datetime, known_at: dt.datetime, basis: str) -> str:
    """The replayed graph as JSON: nodes by id, edges by deal and leg, amounts exact."""
    graph = result.graph
    return json.dumps(
        {
            "as_of": as_of.isoformat(),
            "known_at": known_at.isoformat(),
            "basis": basis,
            "events_read": result.events_read,
            "nodes": {
                i: {"name": n.name, "valuation_usd": str(n.valuation_usd or "") or None}
                for i, n in sorted(graph.nodes.items())
            },
            "edges": [
                {
                    "deal_id": e.deal_id,
                    "leg": e.leg,
                    "payer": e.payer,
                    "payee": e.payee,
                    "instrument": e.instrument,
                    "amount_usd": str(e.amount_usd),
                }
                for e in sorted(graph.edges, key=lambda e: (e.deal_id, e.leg))
            ],
        },
        indent=2,
    )


def print_replay(
    result: Replay, as_of: dt.datetime, known_at: dt.datetime, console: Console
) -> None:
    """What was replayed, then the graph's nodes and edges as two tables."""
    graph = result.graph
    console.print(
        f"replayed {result.events_read:,} events (positions 1–{result.until_position:,}), "
        f"{result.events_kept:,} visible at asOf {as_of.isoformat()}, "
        f"knownAt {known_at.isoformat()}",
        highlight=False,
    )
    nodes = Table("entity", "name", "valuation", title="Nodes", title_justify="left")
    for entity_id, node in sorted(graph.nodes.items()):
        nodes.add_row(entity_id, node.name, usd(node.valuation_usd))
    edges = Table(
        "deal",
        "leg",
        "payer → payee",
        "instrument",
        "amount",
        title="Edges",
        title_justify="left",
    )
    for e in sorted(graph.edges, key=lambda e: (e.deal_id, e.leg)):
        edges.add_row(e.deal_id, e.leg, f"{e.payer} → {e.payee}", e.instrument, usd(e.amount_usd))
    console.print(nodes, edges)
