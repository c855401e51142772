// Money readable ($100.0B) with the exact decimal string kept for tooltips; dates in UTC.

const SCALES = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
const DAY_MS = 86_400_000;

export function money(decimal) {
  if (decimal === null || decimal === undefined) return "—";
  const n = Number(decimal);
  const [scale, suffix] = SCALES.find(([s]) => Math.abs(n) >= s) || [1, ""];
  return `${n < 0 ? "−" : ""}$${(Math.abs(n) / scale).toFixed(suffix ? 1 : 0)}${suffix}`;
}

/** The exact amount, digits grouped: "100000000000" -> "$100,000,000,000". */
export function exact(decimal) {
  if (decimal === null || decimal === undefined) return "none recorded";
  const [whole, fraction] = String(decimal).replace("-", "").split(".");
  const sign = String(decimal).startsWith("-") ? "−" : "";
  return `${sign}$${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${fraction ? "." + fraction : ""}`;
}

export const ratio = (decimal) => (decimal === null || decimal === undefined ? "—" : `${Number(decimal).toFixed(1)}×`);
export const percent = (decimal) => (decimal === null || decimal === undefined ? "—" : `${(Number(decimal) * 100).toFixed(1)}%`);

// Days are integers (days since 1970-01-01, UTC) so that a slider can count them.
export const dayOf = (iso) => Math.floor(Date.parse(iso) / DAY_MS);
export const isoDay = (day) => new Date(day * DAY_MS).toISOString().slice(0, 10);
export const utc = (iso) => (iso ? new Date(iso).toISOString().replace(".000Z", "Z").replace("T", " ") : "");

/** The last day of the month after the one ``day`` ends, or of its own month if later. */
export function nextMonthEnd(day) {
  const d = new Date(day * DAY_MS);
  const own = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0) / DAY_MS;
  return own > day ? own : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 2, 0) / DAY_MS;
}

/** "2025-11-01T12:00" from a datetime-local input, read as UTC -> ISO with Z (or null). */
export const localInputToUtc = (value) => (value ? `${value.length === 16 ? value + ":00" : value}Z` : null);
export const utcToLocalInput = (iso) => (iso ? new Date(iso).toISOString().slice(0, 19) : "");

export function escape(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A short label for a node: "NVIDIA Corporation" -> "NVIDIA", "Google (Alphabet Inc.)" -> "Google". */
export function shortName(name) {
  return name
    .replace(/\s*\(.*\)\s*$/, "")
    .replace(/,?\s+(Inc\.|Corporation|Corp\.|Group Corp\.|Group N\.V\.|PBC|LLC|Platforms, Inc\.)$/, "")
    .replace(/\s+(Group|Platforms)$/, "");
}
