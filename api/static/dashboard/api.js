// The page's only way to the ledger: POST /graphql, like any other client. In production the
// server wants an API key; the user pastes one, kept in sessionStorage (this tab only).

const KEY = "ledger-api-key";

export class NeedsKey extends Error {}

export const apiKey = {
  get: () => sessionStorage.getItem(KEY),
  set: (key) => (key ? sessionStorage.setItem(KEY, key) : sessionStorage.removeItem(KEY)),
};

export async function gql(query, variables = {}, { signal } = {}) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  const key = apiKey.get();
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch("/graphql", {
    method: "POST", headers, body: JSON.stringify({ query, variables }), signal,
  });
  if (response.status === 401) {
    const refused = await response.json().catch(() => ({}));
    throw new NeedsKey(refused.errors?.[0]?.message || refused.detail || "API key needed");
  }
  const body = await response.json();
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}
