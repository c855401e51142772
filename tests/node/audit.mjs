// The graphql-http audit of the GraphQL-over-HTTP spec against a running ledger serve:
// node audit.mjs URL  ->  one JSON line per audit {id, name, status, reason}; exit 0.
import { auditServer } from "graphql-http";

const url = process.argv[2];
const results = await auditServer({ url });
for (const result of results) {
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") line.reason = result.reason;
  console.log(JSON.stringify(line));
}
