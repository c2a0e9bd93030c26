// web/connection.js wsUrl: the page's ?token= goes on to the websocket URL (a --token server).
import assert from "node:assert/strict";
import { test } from "node:test";

import { wsUrl } from "../../web/connection.js";

test("wsUrl keeps the page's host and scheme", () => {
  assert.equal(wsUrl({ protocol: "http:", host: "127.0.0.1:8765", search: "" }), "ws://127.0.0.1:8765/ws");
  assert.equal(wsUrl({ protocol: "https:", host: "example.org", search: "?x=1" }), "wss://example.org/ws");
});

test("wsUrl passes the page's token on, encoded", () => {
  const url = wsUrl({ protocol: "http:", host: "h:1", search: "?token=a b&c=d" });
  assert.equal(url, "ws://h:1/ws?token=a%20b");
});
