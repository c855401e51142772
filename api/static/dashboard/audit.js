// The audit view: raw events of a stream or a recorded-time range, a page at a time, and the
// ledger's head with a "verify" that checks a kept digest against what the server says now.
// When the ledger signs checkpoints, "verify" checks Merkle proofs in this browser
// (merkle.js): the kept checkpoint extends to the new one, the kept digest is in its tree.
import { gql } from "./api.js";
import { escape, utc } from "./format.js";
import { checkConsistency, checkInclusion, checkSignature, hex, leafHash, parseNote, unhex } from "./merkle.js";

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
const KEPT_CHECKPOINT = "ledger-kept-checkpoint"; // the signed note last verified here
const KEPT_KEY = "ledger-kept-key"; // the vkey first seen (trust on first use)
const CHECKPOINT = "{ ledgerCheckpoint { treeSize rootHash note publicKey } }";
const CONSISTENCY = "query C($m: Int!, $n: Int!) { consistencyProof(fromSize: $m, toSize: $n) { fromSize toSize hashes } }";
const INCLUSION = "query I($p: Int!, $n: Int!) { inclusionProof(position: $p, treeSize: $n) { leafIndex treeSize leafHash hashes } }";

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
    const checkpoint = (await gql(CHECKPOINT)).ledgerCheckpoint;
    if (checkpoint) {
      const [p, h] = kept ? [Number(kept.split(":")[0]), kept.split(":")[1]] : [0, ""];
      return this.verifyProofs(checkpoint, head, p, h, say);
    }
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

  /** The proofs, checked here: the note's signature by the key kept in this browser, the
   * consistency of the kept checkpoint with the new one, the kept digest's inclusion. */
  async verifyProofs(checkpoint, head, position, hash, say) {
    const note = parseNote(checkpoint.note);
    const size = checkpoint.treeSize;
    if (!note || note.size !== size || note.root.length !== 32) return say("bad", "✗ note: the checkpoint is malformed.");
    const key = localStorage.getItem(KEPT_KEY) || checkpoint.publicKey;
    const signed = await checkSignature(checkpoint.note, key);
    if (signed && signed !== "unsupported") return say("bad", `✗ ${escape(signed)} (key ${escape(key.split("+").slice(0, 2).join("+"))}).`);
    localStorage.setItem(KEPT_KEY, key);
    const done = [signed ? "signature not checked (no Ed25519 in this browser)" : "signature ✓"];
    const keptNote = localStorage.getItem(KEPT_CHECKPOINT);
    const old = keptNote && parseNote(keptNote);
    if (old && old.size > 0) {
      if (old.size > size) return say("bad", `✗ treeSize: the ledger's tree (${size}) is smaller than the kept checkpoint's (${old.size}).`);
      const proof = old.size === size ? { hashes: [] } : (await gql(CONSISTENCY, { m: old.size, n: size })).consistencyProof;
      const failed = await checkConsistency(old.size, size, proof.hashes, old.root, note.root);
      if (failed) return say("bad", `✗ ${escape(failed)}: the tree of ${size} does not extend the kept tree of ${old.size}.`);
      done.push(`tree of ${size} extends the kept ${old.size} ✓`);
    }
    if (position >= 1 && position <= size) {
      const proof = (await gql(INCLUSION, { p: position, n: size })).inclusionProof;
      const leaf = await leafHash(unhex(hash));
      if (proof.leafHash !== hex(leaf)) {
        return say("bad", `✗ leafHash: event ${position} is not the kept event (hash ${escape(hash.slice(0, 12))}…).`);
      }
      const failed = await checkInclusion(proof.leafIndex, proof.treeSize, leaf, proof.hashes, note.root);
      if (failed) return say("bad", `✗ ${escape(failed)}: event ${position} is not proven in the tree of ${size}.`);
      done.push(`event ${position} in it ✓`);
    } else if (position > size) {
      done.push(`event ${position} is not in a checkpoint yet`);
    }
    localStorage.setItem(KEPT_CHECKPOINT, checkpoint.note);
    localStorage.setItem(KEPT, head.digest);
    say("ok", `✓ verified in this browser: ${done.join("; ")}. Kept checkpoint ${size}.`);
  }
}
