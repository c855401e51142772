// The dashboard: state (asOf, knownAt, basis, entity) lives in the query string; every change
// asks /graphql for the view (debounced, stale answers dropped) and redraws the graph in place.
import { apiKey, gql, NeedsKey } from "./api.js";
import { Audit } from "./audit.js";
import { dayOf, escape, exact, isoDay, localInputToUtc, money, nextMonthEnd, percent, shortName, utc, utcToLocalInput } from "./format.js";
import { COLOURS, Graph } from "./graph.js";
import { EntityPanel } from "./panel.js";

const $ = (id) => document.getElementById(id);
const GRAPH_FIELDS = `nodes { id name kind valuationUsd }
  edges { leg instrument amountUsd capacityGw shares dealId payerId payeeId deal { title } }`;
const VIEW = `query View($asOf: DateTime!, $knownAt: DateTime, $basis: Basis!, $compare: Boolean!) {
  graph: exposureGraph(asOf: $asOf, knownAt: $knownAt, basis: $basis) { ${GRAPH_FIELDS} }
  flows: circularFlows(asOf: $asOf, knownAt: $knownAt, basis: $basis) { entityIds amountUsd }
  latest: exposureGraph(asOf: $asOf, basis: $basis) @include(if: $compare) { ${GRAPH_FIELDS} }
}`;
// The slider's range from the ledger's span (one row, however long the history); its ticks
// from the deals' own dates, which any key may read.
const HISTORY = `{ ledgerSpan { firstEffectiveAt firstActivityAt lastEffectiveAt }
  deals(asOf: "9999-12-31T00:00:00Z", first: 500) { edges { node { announcedAt terminatedAt } } } }`;
const STRESS = `query Stress($defaulted: [String!]!, $recovery: Decimal!, $threshold: Decimal!, $asOf: DateTime!, $knownAt: DateTime, $basis: Basis!) {
  stressTest(defaulted: $defaulted, recoveryRate: $recovery, threshold: $threshold, asOf: $asOf, knownAt: $knownAt, basis: $basis) {
    defaulted rounds { number newDefaults losses { entityId lossUsd shareOfValuation } } } }`;
const DAY_MS = 86_400_000;
const DEBOUNCE_MS = 30;
const PLAY_PAUSE_MS = 350;

const BASES = ["HEADLINE", "COMMITTED", "FUNDED"];
const query = new URLSearchParams(location.search);
const given = (name, valid) => (valid(query.get(name) || "") ? query.get(name) : null); // a bad link is ignored
const state = {
  asOf: given("asOf", (v) => !Number.isNaN(Date.parse(v))) && dayOf(query.get("asOf")),
  knownAt: given("knownAt", (v) => !Number.isNaN(Date.parse(v))),
  basis: given("basis", (v) => BASES.includes(v.toUpperCase()))?.toUpperCase() || "HEADLINE",
  entity: query.get("entity") || null,
  audit: query.get("audit") || null,
  // the graph's filter, applied here to the graph already fetched: a minimum amount (USD) and instruments
  minUsd: Number(given("minUsd", (v) => /^\d+(\.\d+)?$/.test(v)) || 0),
  instruments: given("instruments", (v) => v.split(",").some((i) => i in COLOURS))?.split(",").filter((i) => i in COLOURS) || null,
};
let last = null; // the last answer drawn, redrawn as the filter changes
let timeline; // {first, pivot, last, max, toDay, toValue}
let names = new Map();
const defaults = new Set(); // what-if: entities picked to default
let stressOn = false;

const graph = new Graph($("graph"), $("tooltip"), (id) => selectEntity(id));
const panel = new EntityPanel($("entity"), { onSelect: (id) => selectEntity(id), historyLink: (stream) => link({ audit: stream }) });
const audit = new Audit(document, { keptFromUrl: () => query.get("digest") });
window.dashboard = { graph, cy: graph.cy, state, valueOf: (iso) => timeline.toValue(dayOf(iso)) };

// ---- state <-> URL ------------------------------------------------------------------------

function params(extra = {}) {
  const q = new URLSearchParams();
  q.set("asOf", isoDay(state.asOf));
  if (state.knownAt) q.set("knownAt", state.knownAt);
  q.set("basis", state.basis.toLowerCase());
  if (state.minUsd) q.set("minUsd", String(state.minUsd));
  if (state.instruments) q.set("instruments", state.instruments.join(","));
  for (const [k, v] of Object.entries({ entity: state.entity, audit: state.audit, digest: query.get("digest"), ...extra })) {
    if (v) q.set(k, v);
  }
  return q;
}
const link = (extra) => `?${params(extra)}`;
const syncUrl = () => history.replaceState(null, "", link());
const asOfIso = () => `${isoDay(state.asOf)}T00:00:00Z`;
const variables = () => ({ asOf: asOfIso(), knownAt: state.knownAt, basis: state.basis });

// ---- the ledger's history: the slider's range -----------------------------------------------

/** The slider counts days; the years before the first deal (only registrations) are squeezed
 * into the first eighth of its track so that the deal web's years get the room. */
function makeTimeline(first, pivot, last) {
  const pre = pivot - first;
  const squeezed = pre > 365 ? Math.max(30, Math.round((last - pivot) / 8)) : 0;
  const start = squeezed ? pivot : first;
  return {
    first, pivot: start, last, max: squeezed + (last - start),
    toDay: (v) => (squeezed && v < squeezed ? first + Math.round((v * pre) / squeezed) : start + (v - squeezed)),
    toValue: (d) => (squeezed && d < pivot ? Math.round(((d - first) * squeezed) / pre) : squeezed + (d - start)),
  };
}

async function loadHistory() {
  const { ledgerSpan: span, deals } = await gql(HISTORY);
  const activity = deals.edges.flatMap(({ node }) =>
    [node.announcedAt, node.terminatedAt].filter(Boolean).map((at) => Date.parse(at)));
  const day = (at, round) => round(Date.parse(at) / DAY_MS);
  const today = Math.floor(Date.now() / DAY_MS);
  const first = span ? day(span.firstEffectiveAt, Math.floor) : today;
  const last = span ? day(span.lastEffectiveAt, Math.ceil) : today;
  const pivot = span?.firstActivityAt ? day(span.firstActivityAt, Math.floor) : first;
  timeline = makeTimeline(first, pivot, last);
  const slider = $("slider");
  slider.max = timeline.max;
  $("ticks").innerHTML = [...new Set(activity.map((t) => Math.floor(t / DAY_MS)))]
    .map((d) => `<option value="${timeline.toValue(d)}"></option>`).join("");
  $("as-of").min = isoDay(first);
  $("as-of").max = isoDay(last);
  $("history-range").textContent = `history ${isoDay(first)} → ${isoDay(last)}` +
    (timeline.pivot !== first ? ` (only registrations before ${isoDay(timeline.pivot)}: squeezed)` : "");
}

// ---- drawing ------------------------------------------------------------------------------

let sequence = 0;
let timer = null;
let inFlight = null;
const waiting = [];
let movedAt = 0;
const drawn = () => new Promise((resolve) => waiting.push(resolve));

function showTime() {
  $("slider").value = timeline.toValue(state.asOf);
  $("as-of").value = isoDay(state.asOf);
}

/** A change of time or basis: redraw soon (moves in quick succession make one request). */
function changed(at = performance.now()) {
  movedAt = at;
  syncUrl();
  clearTimeout(timer);
  timer = setTimeout(redraw, DEBOUNCE_MS);
}

async function redraw() {
  const mine = ++sequence;
  inFlight?.abort();
  inFlight = new AbortController();
  const asked = performance.now();
  let data = null;
  try {
    data = await gql(VIEW, { ...variables(), compare: Boolean(state.knownAt) }, { signal: inFlight.signal });
    window.__lastRequestMs = performance.now() - asked;
  } catch (error) {
    if (error.name === "AbortError") return; // a newer move took over
    failed(error);
  }
  if (mine !== sequence) return;
  if (data) await draw(data);
  waiting.splice(0).forEach((resolve) => resolve());
  if (data && state.entity) loadPanel();
  if (data && stressOn) runStress();
}

async function draw(data) {
  const start = performance.now();
  last = data;
  graph.filter = { minUsd: state.minUsd, instruments: state.instruments && new Set(state.instruments) };
  graph.show(data.graph, data.flows, data.latest);
  window.__lastUpdateMs = performance.now() - start;
  await graph.painted();
  const end = performance.now();
  window.__lastRedrawMs = end - start; // in-place update and paint, once the answer is here
  window.__lastSliderToPaintMs = end - movedAt; // from the move: debounce + request + redraw
  performance.measure("dashboard-redraw", { start, end });
  performance.measure("dashboard-move-to-paint", { start: movedAt, end });
  $("error").hidden = true;
  names = new Map(data.graph.nodes.map((n) => [n.id, n.name]));
  showFlows(data.flows);
  showKnowledge();
  showDefaultChoices(data.graph.nodes);
  Object.assign($("graph").dataset, {
    asOf: isoDay(state.asOf), basis: state.basis, knownAt: state.knownAt || "",
    filter: `${state.minUsd}:${state.instruments?.join(",") ?? "all"}`,
  });
}

/** A change of the filter: redraw the answer already here (no request). */
function filtered() {
  syncUrl();
  if (last) draw(last);
}

function showFilter() {
  $("min-usd").value = state.minUsd ? String(state.minUsd / 1e9) : "";
  document.querySelectorAll("#legend input[name=instrument]").forEach((box) => {
    box.checked = !state.instruments || state.instruments.includes(box.value);
  });
}

function showFlows(flows) {
  const name = (id) => escape(shortName(names.get(id) || id));
  $("flows").innerHTML = flows.length
    ? `<b>Circular flows</b> (smallest edge on the loop)<br>${flows.slice(0, 6).map((f) =>
      `${[...f.entityIds, f.entityIds[0]].map(name).join(" → ")}: <span title="${exact(f.amountUsd)}">${money(f.amountUsd)}</span>`).join("<br>")}`
    : "<b>Circular flows</b>: none";
}

function showKnowledge() {
  const marker = $("knowledge-marker");
  const later = graph.cy.$(".later").length;
  const differs = graph.cy.$("edge.changed").length;
  marker.hidden = !state.knownAt || (!later && !differs);
  marker.innerHTML = marker.hidden ? "" : `⚠ As known at ${utc(state.knownAt)}, the ledger's view of ${isoDay(state.asOf)}
    differs from what it knows now: ${later} entit${later === 1 ? "y or edge" : "ies or edges"} recorded later (dotted),
    ${differs} edge amount${differs === 1 ? "" : "s"} since changed (pink underlay).`;
  $("known-now").disabled = !state.knownAt;
}

function failed(error) {
  if (error instanceof NeedsKey) {
    $("key-prompt").hidden = false;
    return;
  }
  $("error").hidden = false;
  $("error").textContent = `The ledger answered: ${error.message}`;
}

// ---- entity panel, what-if ----------------------------------------------------------------

/** Where the panel's monthly series start: asOf's month and day, in the year of the first deal
 * (at least a year back), so that the last point of the series is asOf itself. */
function seriesFrom() {
  const asOf = new Date(state.asOf * DAY_MS);
  const month = asOf.getUTCMonth();
  const day = month === 1 ? Math.min(asOf.getUTCDate(), 28) : asOf.getUTCDate(); // most years lack 29 February
  const since = Math.min(timeline.pivot, state.asOf - 365) * DAY_MS;
  let year = new Date(since).getUTCFullYear();
  if (Date.UTC(year, month, day) > since) year -= 1;
  return new Date(Date.UTC(year, month, day)).toISOString();
}

function loadPanel() {
  panel.load(state.entity, { ...variables(), from: seriesFrom() }).catch(failed);
}

function selectEntity(id, { load = true } = {}) {
  state.entity = id;
  graph.select(id);
  syncUrl();
  openTab("entity");
  $("entity-hint").hidden = true;
  if (load) loadPanel();
}

function showDefaultChoices(nodes) {
  $("whatif-entities").innerHTML = [...nodes].sort((a, b) => a.name.localeCompare(b.name)).map((n) =>
    `<label><input type="checkbox" value="${escape(n.id)}" ${defaults.has(n.id) ? "checked" : ""}> ${escape(n.name)}</label>`).join("");
}

async function runStress() {
  if (!defaults.size) return;
  stressOn = true;
  const data = await gql(STRESS, {
    ...variables(), defaulted: [...defaults], recovery: $("recovery").value || "0", threshold: $("threshold").value || "1",
  }).catch(failed);
  if (!data) return;
  const result = data.stressTest;
  const overlay = new Map([...defaults].map((id) => [id, { defaulted: true, round: 0 }]));
  for (const round of result.rounds) {
    for (const id of round.newDefaults) overlay.set(id, { defaulted: true, round: round.number });
  }
  const last = result.rounds.at(-1);
  for (const loss of last?.losses || []) {
    if (!overlay.has(loss.entityId)) overlay.set(loss.entityId, { lossUsd: loss.lossUsd, share: loss.shareOfValuation });
  }
  graph.overlay = overlay;
  redrawOverlay();
  const name = (id) => escape(names.get(id) || id);
  const total = (last?.losses || []).reduce((sum, l) => sum + Number(l.lossUsd), 0);
  $("whatif-result").innerHTML = `<p id="whatif-summary">${result.rounds.length} round${result.rounds.length === 1 ? "" : "s"};
    defaulted at the end: ${result.defaulted.map(name).join(", ")}; losses of the others ${money(total)}.</p>
    ${result.rounds.map((r) => `<h3>Round ${r.number}${r.newDefaults.length ? ` — defaults: ${r.newDefaults.map(name).join(", ")}` : ""}</h3>
    <table><tr><th>entity</th><th class="num">loss</th><th class="num">of valuation</th></tr>
    ${r.losses.map((l) => `<tr><td>${name(l.entityId)}</td><td class="num" title="${exact(l.lossUsd)}">${money(l.lossUsd)}</td>
      <td class="num">${percent(l.shareOfValuation)}</td></tr>`).join("")}</table>`).join("")}`;
}

function redrawOverlay() {
  // restyle the nodes already drawn: labels and classes from the overlay
  graph.cy.batch(() => graph.cy.nodes().forEach((node) => {
    const d = node.data();
    const fresh = graph.nodeData({ id: d.id, name: d.name, kind: d.kind, valuationUsd: d.valuation });
    const hit = graph.overlay.get(d.id);
    node.data(fresh).removeClass("defaulted loss").addClass(hit?.defaulted ? "defaulted" : hit ? "loss" : "");
  }));
  graph.declutter();
}

// ---- tabs, controls -------------------------------------------------------------------------

function openTab(name) {
  document.querySelectorAll("[role=tab]").forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.tab === name)));
  document.querySelectorAll("[role=tabpanel]").forEach((p) => { p.hidden = p.id !== `tab-${name}`; });
  if (name === "audit" && !audit.filter) {
    audit.head().catch(failed);
    audit.show({ stream: state.audit }).catch(failed);
  }
}

let playing = false;
async function play() {
  playing = !playing;
  $("play").textContent = playing ? "⏸" : "▶";
  if (playing && state.asOf >= timeline.last) state.asOf = timeline.pivot;
  while (playing && state.asOf < timeline.last) {
    state.asOf = Math.min(nextMonthEnd(state.asOf), timeline.last);
    showTime();
    const done = drawn();
    changed();
    await done;
    await new Promise((resolve) => setTimeout(resolve, PLAY_PAUSE_MS));
  }
  playing = false;
  $("play").textContent = "▶";
}

function wire() {
  $("slider").addEventListener("input", (event) => {
    state.asOf = timeline.toDay(Number(event.target.value));
    $("as-of").value = isoDay(state.asOf);
    changed(event.timeStamp);
  });
  $("as-of").addEventListener("change", (event) => {
    if (!event.target.value) return;
    state.asOf = Math.max(timeline.first, Math.min(timeline.last, dayOf(event.target.value)));
    showTime();
    changed(event.timeStamp);
  });
  $("play").addEventListener("click", play);
  document.querySelectorAll("input[name=basis]").forEach((radio) => radio.addEventListener("change", () => {
    state.basis = radio.value;
    changed();
  }));
  $("known-at").addEventListener("change", (event) => {
    state.knownAt = localInputToUtc(event.target.value);
    changed();
  });
  $("known-now").addEventListener("click", () => {
    state.knownAt = null;
    $("known-at").value = "";
    changed();
  });
  document.querySelectorAll("[role=tab]").forEach((tab) => tab.addEventListener("click", () => openTab(tab.dataset.tab)));
  $("whatif-entities").addEventListener("change", (event) => {
    if (event.target.checked) defaults.add(event.target.value);
    else defaults.delete(event.target.value);
  });
  $("whatif-run").addEventListener("click", () => runStress());
  $("whatif-clear").addEventListener("click", () => {
    stressOn = false;
    defaults.clear();
    graph.overlay = new Map();
    redrawOverlay();
    $("whatif-result").innerHTML = "";
    document.querySelectorAll("#whatif-entities input").forEach((box) => { box.checked = false; });
  });
  $("audit-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    state.audit = $("audit-stream").value.trim() || null;
    syncUrl();
    audit.show({ stream: state.audit, from: localInputToUtc($("audit-from").value), to: localInputToUtc($("audit-to").value) }).catch(failed);
  });
  document.addEventListener("click", (event) => { // a deal's "history" link opens the audit view
    const a = event.target.closest("a[data-stream]");
    if (!a || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    state.audit = a.dataset.stream;
    syncUrl();
    openTab("audit");
    audit.show({ stream: state.audit }).catch(failed);
  });
  $("legend").addEventListener("change", (event) => {
    if (event.target.name !== "instrument") return;
    const chosen = [...document.querySelectorAll("#legend input[name=instrument]:checked")].map((box) => box.value);
    state.instruments = chosen.length === Object.keys(COLOURS).length ? null : chosen;
    filtered();
  });
  $("min-usd").addEventListener("input", (event) => {
    const billions = Number(event.target.value);
    state.minUsd = Number.isFinite(billions) && billions > 0 ? Math.round(billions * 1e9) : 0;
    filtered();
  });
  $("key-button").addEventListener("click", () => { $("key-prompt").hidden = !$("key-prompt").hidden; });
  $("key-save").addEventListener("click", () => {
    apiKey.set($("key-input").value.trim());
    $("key-input").value = "";
    $("key-prompt").hidden = true;
    start();
  });
  $("legend").innerHTML = `${Object.entries(COLOURS).map(([k, c]) =>
    `<label title="show ${k.replace("_", " ")} edges"><input type="checkbox" name="instrument" value="${k}" checked><i style="background:${c}"></i>${k.replace("_", " ")}</label>`).join("")}
    <br>node size: valuation (dashed: none recorded) · edge width: amount (dashed: no USD figure) ·
    <span style="color:#b45309">amber</span>: circular flow`;
}

// ---- start --------------------------------------------------------------------------------

async function start() {
  $("key-button").textContent = apiKey.get() ? "key ✓" : "key";
  try {
    await loadHistory();
    state.asOf = Math.max(timeline.first, Math.min(timeline.last, state.asOf ?? timeline.last));
    document.querySelector(`input[name=basis][value=${CSS.escape(state.basis)}]`).checked = true;
    $("known-at").value = utcToLocalInput(state.knownAt);
    showFilter();
    // one layout for the whole web, scaled by headline amounts (the largest of the bases)
    const full = await gql(VIEW, { asOf: `${isoDay(timeline.last)}T00:00:00Z`, basis: "HEADLINE", compare: false });
    graph.layout(full.graph);
    showTime();
    changed();
    await drawn();
    graph.fitAround([$("legend")]); // nothing drawn under the legend
    if (state.entity) selectEntity(state.entity, { load: false }); // the redraw loaded its panel
    if (state.audit) openTab("audit");
  } catch (error) {
    failed(error);
  }
}

wire();
start();
