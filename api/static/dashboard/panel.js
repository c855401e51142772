// The entity panel: facts at (asOf, knownAt), valuation and exposure over time (one `series`
// field each, all in one request), revenue reports, exposures in and out, deals.
/* global uPlot */
import { gql } from "./api.js";
import { escape, exact, isoDay, money, ratio } from "./format.js";

const SERIES = (alias, metric) => `${alias}: series(entityId: $eid, metric: ${metric}, from: $from, to: $asOf,
    interval: MONTH, knownAt: $knownAt, basis: $basis) { asOf value }`;

const QUERY = `query EntityPanel($id: ID!, $eid: String!, $asOf: DateTime!, $knownAt: DateTime, $basis: Basis!, $from: DateTime!) {
  entity(id: $id, asOf: $asOf, knownAt: $knownAt, basis: $basis) {
    id name kind valuationUsd commitmentRatio
    valuation { basis effectiveAt }
    revenue { periodEnd annualisedUsd }
    revenueReports { periodStart periodEnd revenueUsd annualisedUsd forecast }
    exposures { totalInUsd totalOutUsd incoming { from { id name } amountUsd } outgoing { to { id name } amountUsd } }
    deals { id title status announcedAt }
  }
  ${SERIES("valuation", "VALUATION")}
  ${SERIES("exposureIn", "EXPOSURE_IN")}
  ${SERIES("exposureOut", "EXPOSURE_OUT")}
}`;

const seconds = (iso) => Date.parse(iso) / 1000;
const byAmount = (a, b) => Number(b.amountUsd) - Number(a.amountUsd);
const amountCell = (value) => `<td class="num" title="${exact(value)}">${money(value)}</td>`;

function chart(element, title, x, series) {
  const width = Math.max(300, element.clientWidth || 420);
  return new uPlot({
    title, width, height: 170, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: { x: { time: true } },
    axes: [{}, { size: 72, values: (u, values) => values.map((v) => money(v)) }],
    series: [{ label: "date", value: (u, v) => (v ? isoDay(v / 86400) : "") }, ...series.map((s) => ({
      spanGaps: true, width: 2, points: { show: true, size: 5 }, value: (u, v) => money(v), ...s,
    }))],
  }, [x, ...series.map((s) => s.data)], element);
}

export class EntityPanel {
  constructor(element, { onSelect, historyLink }) {
    Object.assign(this, { element, onSelect, historyLink, charts: [], request: 0 });
  }

  clear() {
    this.charts.forEach((c) => c.destroy());
    this.charts = [];
    this.element.innerHTML = "";
    this.element.hidden = true;
  }

  async load(id, { asOf, knownAt, basis, from }) {
    const request = ++this.request;
    const data = await gql(QUERY, { id, eid: id, asOf, knownAt, basis, from });
    if (request !== this.request) return; // a newer choice is on its way
    this.clear();
    this.element.hidden = false;
    const e = data.entity;
    if (!e) {
      this.element.innerHTML = `<h2>${escape(id)}</h2><p class="muted">Not registered at this asOf/knownAt.</p>`;
      return;
    }
    const link = (other) => `<a href="#" data-entity="${escape(other.id)}">${escape(other.name)}</a>`;
    const incoming = [...e.exposures.incoming].sort(byAmount);
    const outgoing = [...e.exposures.outgoing].sort(byAmount);
    this.element.innerHTML = `
      <h2>${escape(e.name)} <small class="muted">${escape(e.kind)} · ${escape(e.id)}</small></h2>
      <dl>
        <dt>valuation</dt><dd id="entity-valuation" title="${exact(e.valuationUsd)}">${money(e.valuationUsd)}
          ${e.valuation ? `<span class="muted">${escape(e.valuation.basis)}, ${e.valuation.effectiveAt.slice(0, 10)}</span>` : ""}</dd>
        <dt>annualised revenue</dt><dd title="${exact(e.revenue?.annualisedUsd)}">${money(e.revenue?.annualisedUsd)}
          ${e.revenue ? `<span class="muted">period to ${e.revenue.periodEnd}</span>` : ""}</dd>
        <dt>commitment ratio</dt><dd id="entity-commitment" title="${e.commitmentRatio ?? "no actual revenue reported"}">${ratio(e.commitmentRatio)}
          <span class="muted">purchases and backstops it pays ÷ annualised revenue</span></dd>
        <dt>exposure in / out</dt><dd><span title="${exact(e.exposures.totalInUsd)}">${money(e.exposures.totalInUsd)}</span> /
          <span title="${exact(e.exposures.totalOutUsd)}">${money(e.exposures.totalOutUsd)}</span></dd>
      </dl>
      <h3>Valuation and exposure, monthly</h3><div class="chart" id="chart-valuation"></div>
      <h3>Revenue (annualised, by period end)</h3><div class="chart" id="chart-revenue"></div>
      <h3>Exposed to ${escape(e.name)} <span class="muted">(they lose if it fails)</span></h3>
      <table id="exposures-in"><tr><th>who</th><th class="num">amount</th></tr>
        ${incoming.map((x) => `<tr><td>${link(x.from)}</td>${amountCell(x.amountUsd)}</tr>`).join("") || "<tr><td colspan=2 class=muted>none</td></tr>"}</table>
      <h3>${escape(e.name)} is exposed to <span class="muted">(it loses if they fail)</span></h3>
      <table id="exposures-out"><tr><th>whom</th><th class="num">amount</th></tr>
        ${outgoing.map((x) => `<tr><td>${link(x.to)}</td>${amountCell(x.amountUsd)}</tr>`).join("") || "<tr><td colspan=2 class=muted>none</td></tr>"}</table>
      <h3>Deals</h3>
      <table id="entity-deals"><tr><th>announced</th><th>deal</th><th>status</th></tr>
        ${e.deals.map((d) => `<tr><td>${d.announcedAt.slice(0, 10)}</td><td>${escape(d.title)}<br>
          <a href="${this.historyLink(`deal/${d.id}`)}" data-stream="deal/${escape(d.id)}">history of ${escape(d.id)}</a></td>
          <td>${d.status.toLowerCase()}</td></tr>`).join("")}</table>`;
    this.element.querySelectorAll("[data-entity]").forEach((a) => a.addEventListener("click", (event) => {
      event.preventDefault();
      this.onSelect(a.dataset.entity);
    }));
    this.drawCharts(data, e.revenueReports);
  }

  drawCharts(data, reports) {
    const values = (points) => points.map((p) => (p.value === null ? null : Number(p.value)));
    this.charts.push(chart(this.element.querySelector("#chart-valuation"), "", data.valuation.map((p) => seconds(p.asOf)), [
      { label: "valuation", stroke: "#2563eb", data: values(data.valuation) },
      { label: "exposure in", stroke: "#b91c1c", data: values(data.exposureIn) },
      { label: "exposure out", stroke: "#16a34a", data: values(data.exposureOut) },
    ]));
    const revenue = this.element.querySelector("#chart-revenue");
    if (!reports.length) {
      revenue.innerHTML = `<p class="muted">No revenue reported by this asOf.</p>`;
      return;
    }
    const sorted = [...reports].sort((a, b) => a.periodEnd.localeCompare(b.periodEnd));
    const pick = (forecast) => sorted.map((r) => (r.forecast === forecast ? Number(r.annualisedUsd) : null));
    this.charts.push(chart(revenue, "", sorted.map((r) => seconds(r.periodEnd)), [
      { label: "actual", stroke: "#0f766e", data: pick(false), points: { show: true, size: 8 } },
      { label: "forecast", stroke: "#a855f7", dash: [4, 4], data: pick(true), points: { show: true, size: 8 } },
    ]));
  }
}
