// The exposure graph drawn with Cytoscape.js: nodes sized by valuation, one edge per
// (payer, payee, instrument) sized by amount and coloured by instrument, circular flows
// underlaid. Positions come from one layout of the whole web, so nodes stay put as time moves
// and a redraw only adds, removes and updates elements in place (one batch).
/* global cytoscape */
import { escape, exact, money, percent, shortName } from "./format.js";

export const COLOURS = {
  equity: "#2563eb", purchase: "#16a34a", warrant: "#9333ea", revenue_share: "#ea580c",
  backstop: "#b45309", loan: "#0891b2", guarantee: "#db2777",
};
const PAYER_EXPOSED = new Set(["equity", "loan", "guarantee"]); // spec, section 3

const STYLE = [
  { selector: "node", style: {
    width: "data(size)", height: "data(size)", label: "data(label)", "background-color": "#dbeafe",
    "border-width": 2, "border-color": "#475569", "font-size": 11, "text-valign": "bottom",
    "text-margin-y": 3, "text-wrap": "wrap", "text-max-width": 120, "text-background-color": "#fff",
    "text-background-opacity": 0.75, "text-background-padding": 1 } },
  { selector: "node[!valued]", style: { "background-color": "#f1f5f9", "border-style": "dashed" } },
  { selector: "node.cycle", style: { "border-color": "#f59e0b", "border-width": 4 } },
  { selector: "node:selected", style: { "border-color": "#2563eb", "border-width": 5 } },
  { selector: "node.loss", style: { "border-color": "#b91c1c", "border-width": "data(lossWidth)", color: "#991b1b" } },
  { selector: "node.defaulted", style: { "background-color": "#b91c1c", "border-color": "#450a0a", color: "#7f1d1d", "font-weight": "bold" } },
  { selector: "edge", style: {
    width: "data(width)", "line-color": "data(colour)", "target-arrow-color": "data(colour)",
    "target-arrow-shape": "triangle", "arrow-scale": 0.9, "curve-style": "bezier", opacity: 0.85 } },
  { selector: "edge[amount = 0]", style: { "line-style": "dashed" } },
  { selector: "edge.cycle", style: { "underlay-color": "#f59e0b", "underlay-opacity": 0.45, "underlay-padding": 4 } },
  { selector: ".later", style: { opacity: 0.3, "line-style": "dotted", "border-style": "dotted" } },
  { selector: "edge.changed", style: { "underlay-color": "#db2777", "underlay-opacity": 0.5, "underlay-padding": 5 } },
  { selector: "node.quiet", style: { "text-opacity": 0, "text-background-opacity": 0 } },
  { selector: "node.quiet.hover", style: { "text-opacity": 1, "text-background-opacity": 0.9, "z-index": 10 } },
];

/** Whether two boxes ({x1, y1, x2, y2}) overlap. */
const overlaps = (a, b) => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;

/** Exact decimal sum of two decimal strings (amounts can exceed a double's exact range). */
function addDecimals(a, b) {
  const places = Math.max(...[a, b].map((x) => (x.split(".")[1] || "").length));
  const big = (x) => BigInt(x.replace(".", "") + "0".repeat(places - (x.split(".")[1] || "").length));
  const digits = (big(a) + big(b)).toString().padStart(places + 1, "0");
  return places ? `${digits.slice(0, -places)}.${digits.slice(-places)}` : digits;
}

/** One edge per payer, payee and instrument; the deals' legs behind it kept for the tooltip. */
function aggregate(edges) {
  const byId = new Map();
  for (const e of edges) {
    const id = `${e.payerId}>${e.payeeId}:${e.instrument}`;
    if (!byId.has(id)) {
      byId.set(id, { id, source: e.payerId, target: e.payeeId, instrument: e.instrument, exact: "0", legs: [] });
    }
    const agg = byId.get(id);
    agg.exact = addDecimals(agg.exact, e.amountUsd);
    agg.legs.push(e);
  }
  return byId;
}

export class Graph {
  constructor(container, tooltip, onSelect) {
    this.tooltip = tooltip;
    this.positions = new Map();
    this.scale = { valuation: 1, amount: 1 };
    this.overlay = new Map(); // entity id -> {lossUsd, share, round, defaulted} from a stress test
    this.names = new Map();
    this.filter = { minUsd: 0, instruments: null }; // client-side: edges below minUsd or of other instruments are not drawn
    this.cy = cytoscape({
      container, style: STYLE, minZoom: 0.2, maxZoom: 4, boxSelectionEnabled: false,
    });
    this.cy.on("tap", "node", (event) => onSelect(event.target.id()));
    this.cy.on("mouseover", "node, edge", (event) => this.showTip(event.target, event.renderedPosition));
    this.cy.on("mouseout", "node, edge", () => { this.tooltip.hidden = true; });
    this.cy.on("mouseover", "node", (event) => event.target.addClass("hover"));
    this.cy.on("mouseout", "node", (event) => event.target.removeClass("hover"));
    this.cy.on("pan zoom", () => { this.tooltip.hidden = true; });
    container.addEventListener("mouseleave", () => { this.tooltip.hidden = true; });
  }

  /** Lay out the whole web (its last state) once; later views reuse these positions. */
  layout(view) {
    this.scale.valuation = Math.max(1, ...view.nodes.map((n) => Number(n.valuationUsd || 0)));
    this.scale.amount = Math.max(1, ...[...aggregate(view.edges).values()].map((e) => Number(e.exact)));
    this.cy.elements().remove();
    this.cy.add(this.elements(view, [], null));
    this.cy.layout({
      name: "cose", animate: false, randomize: false, nodeRepulsion: () => 120000,
      idealEdgeLength: () => 90, nodeOverlap: 40, gravity: 0.6, numIter: 2500, padding: 60,
    }).run();
    this.cy.nodes().forEach((n) => this.positions.set(n.id(), { ...n.position() }));
    this.cy.fit(undefined, 60);
  }

  /** Fit the drawing into the part of the container that the boxes drawn over it (the legend, the
   * list of flows) leave free: for each box the drawing stays above, below, left or right of it,
   * and of these choices the one that draws it largest wins. */
  fitAround(boxes, padding = 24) {
    const at = this.cy.container().getBoundingClientRect();
    const bb = this.cy.elements().boundingBox();
    const rects = boxes.filter((el) => el && !el.hidden).map((el) => {
      const r = el.getBoundingClientRect();
      return { x1: r.left - at.left, y1: r.top - at.top, x2: r.right - at.left, y2: r.bottom - at.top };
    });
    let best = null;
    const choose = (i, area) => {
      const [w, h] = [area.x2 - area.x1 - 2 * padding, area.y2 - area.y1 - 2 * padding];
      if (w <= 0 || h <= 0) return;
      if (i === rects.length) {
        const zoom = Math.min(w / (bb.w || 1), h / (bb.h || 1));
        if (!best || zoom > best.zoom) best = { zoom, area };
        return;
      }
      const r = rects[i];
      for (const [key, value, keep] of [["y2", r.y1, Math.min], ["y1", r.y2, Math.max], ["x2", r.x1, Math.min], ["x1", r.x2, Math.max]]) {
        choose(i + 1, { ...area, [key]: keep(area[key], value) });
      }
    };
    choose(0, { x1: 0, y1: 0, x2: at.width, y2: at.height });
    if (!best) return this.cy.fit(undefined, padding);
    const zoom = Math.max(this.cy.minZoom(), Math.min(this.cy.maxZoom(), best.zoom));
    const { area } = best;
    this.cy.viewport({ zoom, pan: { x: (area.x1 + area.x2) / 2 - zoom * (bb.x1 + bb.x2) / 2, y: (area.y1 + area.y2) / 2 - zoom * (bb.y1 + bb.y2) / 2 } });
  }

  /** Where a node goes: its place in the layout, else a spot on an outer ring. */
  positionOf(id) {
    if (!this.positions.has(id)) {
      const box = this.cy.nodes().boundingBox();
      const angle = [...id].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7) * (Math.PI / 180);
      const r = Math.max(box.w || 300, box.h || 300) / 2 + 60;
      this.positions.set(id, { x: (box.x1 + box.x2) / 2 + r * Math.cos(angle), y: (box.y1 + box.y2) / 2 + r * Math.sin(angle) });
    }
    return { ...this.positions.get(id) };
  }

  nodeData(n) {
    const v = n.valuationUsd === null ? null : Number(n.valuationUsd);
    const hit = this.overlay.get(n.id);
    let second = v === null ? "" : money(n.valuationUsd);
    if (hit?.defaulted) second = hit.round ? `defaulted, round ${hit.round}` : "defaulted";
    else if (hit) second = `−${money(hit.lossUsd)}${hit.share ? ` (${percent(hit.share)})` : ""}`;
    return {
      id: n.id, name: n.name, kind: n.kind, valuation: n.valuationUsd, valued: v !== null,
      label: second ? `${shortName(n.name)}\n${second}` : shortName(n.name),
      size: v === null ? 22 : 26 + 54 * Math.sqrt(Math.min(1, v / this.scale.valuation)),
      lossWidth: hit && !hit.defaulted ? 3 + 6 * Math.min(1, Number(hit.share || 0.5)) : 2,
    };
  }

  /** Cytoscape elements for a view; ``latest`` (the same asOf as known now) marks what differs. */
  elements(view, flows, latest) {
    const onCycle = new Set();
    const cycleNodes = new Set();
    for (const flow of flows) {
      flow.entityIds.forEach((id, i, ids) => {
        onCycle.add(`${id}>${ids[(i + 1) % ids.length]}`);
        cycleNodes.add(id);
      });
    }
    const nodes = new Map(view.nodes.map((n) => [n.id, { n, classes: [] }]));
    const edges = aggregate(view.edges);
    const marks = new Map();
    if (latest) {
      const now = aggregate(latest.edges);
      for (const [id, e] of edges) if (now.get(id)?.exact !== e.exact) marks.set(id, ["changed"]);
      for (const n of latest.nodes) if (!nodes.has(n.id)) nodes.set(n.id, { n, classes: ["later"] });
      for (const [id, e] of now) if (!edges.has(id)) { edges.set(id, e); marks.set(id, ["later"]); }
    }
    const out = [];
    for (const { n, classes } of nodes.values()) {
      this.names.set(n.id, n.name);
      const hit = this.overlay.get(n.id);
      const more = [...classes, cycleNodes.has(n.id) ? "cycle" : "", hit?.defaulted ? "defaulted" : hit ? "loss" : ""];
      out.push({ group: "nodes", data: this.nodeData(n), classes: more.filter(Boolean), position: this.positionOf(n.id) });
    }
    for (const e of edges.values()) {
      if (!nodes.has(e.source) || !nodes.has(e.target) || !this.passes(e)) continue;
      const amount = Number(e.exact);
      const classes = [...(marks.get(e.id) || []), onCycle.has(`${e.source}>${e.target}`) ? "cycle" : ""];
      out.push({
        group: "edges", classes: classes.filter(Boolean),
        data: {
          id: e.id, source: e.source, target: e.target, instrument: e.instrument, exact: e.exact,
          amount, legs: e.legs, colour: COLOURS[e.instrument] || "#64748b",
          width: amount ? 1.5 + 11 * Math.sqrt(Math.min(1, amount / this.scale.amount)) : 1.2,
        },
      });
    }
    return out;
  }

  /** Whether an aggregated edge passes the filter: its summed amount at least ``minUsd`` (so a
   * minimum above 0 also hides the legs with no dollar figure) and its instrument among those chosen. */
  passes(e) {
    const { minUsd, instruments } = this.filter;
    return (!minUsd || Number(e.exact) >= minUsd) && (!instruments || instruments.has(e.instrument));
  }

  /** Labels that do not collide: in order of priority (selected, stress-test marks, then the
   * largest nodes), a node keeps its label only if the label's box overlaps no label kept
   * before; the others are hidden (class ``quiet``) and shown on hover. Boxes are in model
   * coordinates, so zooming does not change the answer. */
  declutter() {
    const rank = (n) => (n.selected() ? 3e3 : 0) + (n.hasClass("defaulted") ? 2e3 : n.hasClass("loss") ? 1e3 : 0) + n.data("size");
    const kept = [];
    const quiet = [];
    this.cy.nodes().removeClass("quiet"); // outside a batch, so that the boxes below see every label
    const order = this.cy.nodes().toArray().sort((a, b) => rank(b) - rank(a) || a.id().localeCompare(b.id()));
    for (const node of order) {
      const box = node.boundingBox({ includeNodes: false, includeEdges: false, includeLabels: true });
      if (!box.w || kept.some((k) => overlaps(k, box))) quiet.push(node);
      else kept.push(box);
    }
    this.cy.batch(() => quiet.forEach((node) => node.addClass("quiet")));
    return kept.length;
  }

  /** Nodes whose labels are drawn now, and each label's box on the page (CSS pixels). */
  visibleLabels() {
    const at = this.cy.container().getBoundingClientRect();
    return this.cy.nodes().filter((n) => !n.hasClass("quiet") || n.hasClass("hover")).map((n) => {
      const b = n.renderedBoundingBox({ includeNodes: false, includeEdges: false, includeLabels: true });
      return { id: n.id(), x1: at.left + b.x1, y1: at.top + b.y1, x2: at.left + b.x2, y2: at.top + b.y2 };
    });
  }

  /** Update the drawing in place to ``view``: remove what is gone, add what is new, restyle the rest. */
  show(view, flows, latest) {
    const next = this.elements(view, flows, latest);
    const keep = new Set(next.map((el) => el.data.id));
    this.cy.batch(() => {
      this.cy.elements().filter((el) => !keep.has(el.id())).remove();
      for (const el of next) {
        const existing = this.cy.getElementById(el.data.id);
        if (existing.empty()) this.cy.add(el);
        else existing.data(el.data).classes(el.classes);
      }
    });
    this.declutter();
  }

  /** Resolves once Cytoscape has drawn the last change (or, if there was nothing to draw, after
   * two animation frames). */
  painted() {
    return new Promise((resolve) => {
      const finish = () => {
        this.cy.off("render", finish);
        resolve();
      };
      this.cy.one("render", finish);
      requestAnimationFrame(() => requestAnimationFrame(finish));
    });
  }

  showTip(target, at) {
    const d = target.data();
    let html;
    if (target.isNode()) {
      const hit = this.overlay.get(d.id);
      html = `<b>${escape(d.name)}</b> <span>(${escape(d.kind)})</span><br>valuation ${money(d.valuation)}
        <code>${exact(d.valuation)}</code>${target.hasClass("cycle") ? "<br>on a circular flow" : ""}
        ${hit ? `<br>stress test: ${hit.defaulted ? "defaulted" : `loses <code>${exact(hit.lossUsd)}</code>`}` : ""}
        ${target.hasClass("later") ? "<br><i>recorded after the chosen knownAt</i>" : ""}`;
    } else {
      const [exposed, counterparty] = PAYER_EXPOSED.has(d.instrument) ? [d.source, d.target] : [d.target, d.source];
      const legs = d.legs.map((l) => `<li>${escape(l.deal?.title || l.dealId)}<br><code>${escape(l.dealId)}</code>
        · ${escape(l.leg)}: <code>${exact(l.amountUsd)}</code>${l.capacityGw ? ` · ${l.capacityGw} GW` : ""}${l.shares ? ` · ${l.shares} shares` : ""}</li>`);
      html = `<b>${escape(this.names.get(d.source))} → ${escape(this.names.get(d.target))}</b> · ${escape(d.instrument)}
        <br>${money(d.exact)} <code>${exact(d.exact)}</code>
        <br>if ${escape(this.names.get(counterparty))} fails, ${escape(this.names.get(exposed))} is exposed
        ${target.hasClass("cycle") ? "<br>part of a circular flow" : ""}
        ${target.hasClass("later") ? "<br><i>recorded after the chosen knownAt</i>" : ""}
        ${target.hasClass("changed") ? "<br><i>differs from what the ledger knows now</i>" : ""}
        <ul>${legs.join("")}</ul>`;
    }
    this.tooltip.innerHTML = html;
    this.tooltip.style.left = `${at.x + 14}px`;
    this.tooltip.style.top = `${at.y + 14}px`;
    this.tooltip.hidden = false;
  }

  select(id) {
    this.cy.nodes(":selected").unselect();
    if (id) this.cy.getElementById(id).select();
    this.declutter();
  }
}
