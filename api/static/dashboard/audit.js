// The audit view: raw events of a stream or a recorded-time range, a page at a time, and the
// ledger's head with a "verify" that checks a kept digest against what the server says now.
import { gql } from "./api.js";
import { escape, utc } from "./format.js";

const clip = (text, n = 70) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
const effective = (iso) => (iso.endsWith("T00:00:00Z") ? iso.slice(0, 10) : utc(iso));

const FIELDS = "position stream type effectiveAt recordedAt source hash prevHash";
const EVENTS = `query Audit($stream: String, $from: DateTime, $to: DateTime, $after: String) {
  events(stream: $stream, recordedFrom: $from, recordedTo: $to, first: 20, after: $after) {
    edges { node { ${FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
const DEAL_HISTORY = `query DealHistory($id: ID!) { deal(id: $id) { history { ${FIELDS} } } }`;
const HEAD = "{ ledgerHead { position hash recordedAt digest } }";
const AT = "query At($p: Int!) { events(fromPosition: $p, toPosition: $p, first: 1) { edges { node { hash } } } }";
const KEPT = "ledger-kept-digest";

function sourceLink(source) {
  const url = source?.url && /^https?:\/\//.test(source.url) ? source.url : null;
  const text = escape(clip(source?.title || source?.url || "—"));
  const title = escape([source?.title, source?.note].filter(Boolean).join("\n"));
  return url ? `<a href="${escape(url)}" target="_blank" rel="noopener noreferrer" title="${title}">${text}</a>` : text;
}

export class Audit {
  constructor(root, { keptFromUrl }) {
    this.$ = (id) => root.querySelector(`#${id}`);
    this.keptFromUrl = keptFromUrl;
    this.pages = [null]; // the `after` cursor of each page seen so far
    this.index = 0;
    this.$("audit-next").addEventListener("click", () => this.page(this.index + 1));
    this.$("audit-prev").addEventListener("click", () => this.page(this.index - 1));
    this.$("verify").addEventListener("click", () => this.verify());
  }

  /** Show the first page of events matching ``filter`` ({stream, from, to}). */
  show(filter) {
    this.filter = filter;
    this.$("audit-stream").value = filter.stream || "";
    this.pages = [null];
    return this.page(0);
  }

  async page(index) {
    this.index = index;
    this.pages.length = index + 1;
    const { stream, from, to } = this.filter;
    let events, pageInfo;
    try {
      ({ edges: events, pageInfo } = (await gql(EVENTS, { stream, from, to, after: this.pages[index] })).events);
      events = events.map((edge) => edge.node);
    } catch (error) {
      if (!stream?.startsWith("deal/")) throw error;
      // Without an auditor's key (production) a deal's history is still readable.
      events = (await gql(DEAL_HISTORY, { id: stream.slice(5) })).deal?.history || [];
      pageInfo = { hasNextPage: false };
    }
    if (pageInfo.hasNextPage) this.pages.push(pageInfo.endCursor);
    this.$("audit-prev").disabled = index === 0;
    this.$("audit-next").disabled = !pageInfo.hasNextPage;
    this.$("audit-page").textContent = `page ${index + 1}${stream ? ` of ${stream}` : ""}`;
    this.$("audit-events").innerHTML = `<table><tr><th class="num">pos.</th><th>event</th><th>effective / recorded (UTC)</th><th>source</th><th>hash</th></tr>
      ${events.map((e) => `<tr data-position="${e.position}"><td class="num">${e.position}</td>
        <td>${escape(e.type)}<br><span class="muted stream">${escape(e.stream)}</span></td>
        <td>${effective(e.effectiveAt)}<br><span class="muted">${utc(e.recordedAt)}</span></td>
        <td>${sourceLink(e.source)}</td>
        <td><code title="hash ${e.hash}\nprevious ${e.prevHash}">${e.hash.slice(0, 10)}…</code></td></tr>`).join("")}
      </table>${events.length ? "" : `<p class="muted">No events.</p>`}`;
  }

  kept() {
    return this.keptFromUrl() || localStorage.getItem(KEPT);
  }

  async head() {
    const head = (await gql(HEAD)).ledgerHead;
    this.$("head-digest").textContent = head.digest;
    this.$("head-digest").title = `recorded ${utc(head.recordedAt)}`;
    return head;
  }

  async verify() {
    const out = this.$("verify-result");
    out.textContent = "verifying…";
    const head = await this.head();
    const kept = this.kept();
    const say = (cls, text) => { out.innerHTML = `<span class="${cls}">${text}</span>`; };
    if (!kept) {
      localStorage.setItem(KEPT, head.digest);
      return say("ok", `Kept ${escape(head.digest.slice(0, 20))}… in this browser: verify later to see it still holds.`);
    }
    const [position, hash] = [Number(kept.split(":")[0]), kept.split(":")[1]];
    if (head.digest === kept) return say("ok", `✓ unchanged: the head is still the kept digest (position ${position}).`);
    if (head.position < position) return say("bad", `✗ the head (${head.position}) is behind the kept digest (${position}).`);
    let found;
    try {
      found = (await gql(AT, { p: position })).events.edges[0]?.node.hash;
    } catch (error) {
      return say("bad", `The head moved from ${position} to ${head.position}; checking event ${position} needs an auditor's key (${escape(error.message)}).`);
    }
    if (found !== hash) return say("bad", `✗ event ${position} no longer has the kept hash: the history differs.`);
    localStorage.setItem(KEPT, head.digest);
    say("ok", `✓ ${head.position - position} event(s) appended since the kept digest; event ${position} still has the kept hash. Kept the new head.`);
  }
}
