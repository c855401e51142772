// The Merkle proofs of docs/proofs.md checked in the browser (WebCrypto), so "verified" means
// verified by this page, not the server's word: RFC 9162 inclusion and consistency proofs
// (SHA-256), and the checkpoint's C2SP signed note (Ed25519, where the browser has it).
// Each check returns null when it holds, or what failed (the field's name and why).

const te = new TextEncoder();
export const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
export const unhex = (text) => Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
export const leafHash = (data) => sha256(cat(Uint8Array.of(0), data));
const nodeHash = (left, right) => sha256(cat(Uint8Array.of(1), left, right));

/** The parts of a checkpoint note: origin, size, root, the signed text, signature lines. */
export function parseNote(note) {
  const split = note.indexOf("\n\n");
  if (split < 0) return null;
  const text = note.slice(0, split + 1);
  const [origin, size, root] = text.split("\n");
  const signatures = note.slice(split + 2).split("\n").filter(Boolean)
    .map((line) => line.match(/^\u2014 (\S+) (\S+)$/)).filter(Boolean)
    .map(([, name, blob]) => ({ name, blob: b64(blob) }));
  return { origin, size: Number(size), root: b64(root), text, signatures };
}

/** Does the note carry a valid signature by ``vkey``? null: yes; "unsupported": this
 * browser has no Ed25519; else what failed. */
export async function checkSignature(note, vkey) {
  const [name, id, key] = vkey.split("+");
  const raw = b64(vkey.slice(name.length + id.length + 2));
  if (!key || raw.length !== 33 || raw[0] !== 1) return "key: not an Ed25519 vkey";
  const parsed = parseNote(note);
  if (!parsed) return "note: not a signed note";
  const mine = parsed.signatures.find((s) => s.name === name && hex(s.blob.slice(0, 4)) === id);
  if (!mine) return `key: the checkpoint is not signed by ${name}+${id}`;
  let publicKey;
  try {
    publicKey = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
  } catch {
    return "unsupported";
  }
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, publicKey, mine.blob.slice(4), te.encode(parsed.text));
  return ok ? null : "signature: does not verify";
}

/** RFC 9162 2.1.3.2: null if ``proof`` (hex) leads from ``leaf`` (bytes) to ``root``. */
export async function checkInclusion(leafIndex, treeSize, leaf, proof, root) {
  if (leafIndex >= treeSize) return "leafIndex: not in the tree";
  let fn = leafIndex, sn = treeSize - 1, r = leaf;
  for (const p of proof.map(unhex)) {
    if (sn === 0) return "hashes: longer than the path to the root";
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return "hashes: shorter than the path to the root";
  return equal(r, root) ? null : `rootHash: the proof leads to ${hex(r).slice(0, 12)}…, not to the checkpoint's root`;
}

/** RFC 9162 2.1.4.2: null if ``proof`` (hex) shows the tree of ``n`` (root ``newRoot``)
 * extends the tree of ``m`` (root ``oldRoot``). */
export async function checkConsistency(m, n, proof, oldRoot, newRoot) {
  if (m < 1 || m > n) return "fromSize: out of range";
  if (m === n) return proof.length === 0 && equal(oldRoot, newRoot) ? null : "toRoot: one size, two roots";
  const path = proof.map(unhex);
  if ((m & (m - 1)) === 0) path.unshift(oldRoot);
  if (path.length === 0) return "hashes: empty";
  let fn = m - 1, sn = n - 1;
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return "hashes: longer than the path to the root";
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if (fn % 2 === 0) while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return "hashes: shorter than the path to the root";
  if (!equal(fr, oldRoot)) return "fromRoot: the proof does not lead to the kept checkpoint's root";
  if (!equal(sr, newRoot)) return "toRoot: the proof does not lead to the new checkpoint's root";
  return null;
}
