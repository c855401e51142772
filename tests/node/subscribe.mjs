// The graphql-ws client as a browser uses it: no handshake headers, the API key in the
// connection_init payload (connectionParams). node subscribe.mjs WS_URL KEY COUNT prints the
// first COUNT events of eventRecorded(afterPosition: 0) as JSON lines, or the close reason.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, key, count] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: key ? { Authorization: `Bearer ${key}` } : {},
  retryAttempts: 0,
  lazy: false,
  onNonLazyError: () => {},
});
const received = [];
try {
  const events = client.iterate({
    query: "subscription { eventRecorded(afterPosition: 0) { position type } }",
  });
  for await (const result of events) {
    if (result.errors) throw new Error(result.errors.map((e) => e.message).join("; "));
    console.log(JSON.stringify(result.data.eventRecorded));
    received.push(result);
    if (received.length >= Number(count)) break;
  }
} catch (error) {
  const reason = Array.isArray(error) // the server's error message: GraphQL errors
    ? error.map((e) => e.message).join("; ")
    : error?.code
      ? `closed ${error.code} ${error.reason}` // a CloseEvent
      : String(error?.message ?? error);
  console.log(JSON.stringify({ refused: reason }));
}
await client.dispose();
