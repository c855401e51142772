"""``ledger report --plot``: the exposure graph as a picture (matplotlib + networkx).

Nodes are sized by valuation, edges drawn in the direction money flows and as wide as their
amount (legs with no dollar figure, such as capacity-only deals, dashed), and the legs of
circular flows in red. Both libraries are imported only here, when a plot is asked for.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

from .domain import analysis
from .domain.errors import ValidationError
from .domain.views import Graph

CYCLE_COLOUR = "#d62728"
EDGE_COLOUR = "#7f7f7f"
NODE_COLOUR = "#9ecae1"


def require() -> None:
    """Refuse a plot at once, before any work, when its libraries are not installed (they
    live in the ``plot`` extra, not in the plain install)."""
    from importlib.util import find_spec

    missing = [name for name in ("matplotlib", "networkx") if find_spec(name) is None]
    if missing:
        raise ValidationError(
            "--plot",
            f"drawing the graph needs {' and '.join(missing)}, which the plain install does "
            "not bring: pip install 'deal-ledger[plot]'",
        )


def plot(graph: Graph, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    import networkx as nx

    flows = analysis.flow_amounts(graph.edges)
    on_cycle = {
        (c.entities[i], c.entities[(i + 1) % len(c.entities)])
        for c in analysis.circular_flows(graph.edges)
        for i in range(len(c.entities))
    }
    g = nx.DiGraph()
    involved = {e.payer for e in graph.edges} | {e.payee for e in graph.edges}
    g.add_nodes_from(sorted(involved))
    g.add_edges_from(flows)
    largest = max((n.valuation_usd or Decimal(0) for n in graph.nodes.values()), default=0)
    sizes = [
        300 + 4000 * math.sqrt(float((graph.nodes[n].valuation_usd or 0) / largest))
        if largest and n in graph.nodes
        else 300
        for n in g.nodes
    ]
    top = max(flows.values(), default=Decimal(0))
    widths = [
        0.8 + 6 * math.sqrt(float(flows[e] / top)) if top and flows[e] else 0.8 for e in g.edges
    ]
    colours = [CYCLE_COLOUR if e in on_cycle else EDGE_COLOUR for e in g.edges]
    styles = ["solid" if flows[e] else "dashed" for e in g.edges]

    fig, ax = plt.subplots(figsize=(12, 9), dpi=110)
    layout = _layout(g, nx)
    nx.draw_networkx_nodes(g, layout, node_size=sizes, node_color=NODE_COLOUR, ax=ax)
    nx.draw_networkx_labels(g, layout, font_size=9, ax=ax)
    nx.draw_networkx_edges(
        g,
        layout,
        width=widths,
        edge_color=colours,
        style=styles,
        arrows=True,
        arrowsize=14,
        node_size=sizes,
        connectionstyle="arc3,rad=0.12",
        ax=ax,
    )
    ax.set_title(title, fontsize=11)
    ax.axis("off")
    fig.text(
        0.01,
        0.01,
        "node size: valuation · edge width: amount (dashed: no dollar figure) · red: circular flow",
        fontsize=8,
        color="#555555",
    )
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def _layout(g, nx):
    """The most connected entity in the centre, the others on a ring in breadth-first order
    from it, so that counterparties sit near each other and no two nodes overlap."""
    if len(g) < 3:
        return nx.circular_layout(g)
    undirected = g.to_undirected()
    hub = max(undirected.degree, key=lambda item: (item[1], item[0]))[0]
    ring = [n for n in nx.bfs_tree(undirected, hub) if n != hub]
    ring += sorted(n for n in g if n != hub and n not in ring)
    return nx.shell_layout(g, nlist=[[hub], ring])
