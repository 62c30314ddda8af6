// Test doubles: a manual clock and a WebSocket whose "server side" the test drives.
// (Not a test file itself: package.json and js_test.go run only *.test.js.)

/** A clock whose timers run only when the test advances it. */
export class FakeClock {
  now = 0;
  #timers = new Map(); // id -> {at, fn, seq}
  #nextId = 1;

  setTimeout = (fn, ms) => {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.now + Math.max(0, ms), fn, seq: id });
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  /** Runs every timer due within ms, in time order (also ones they schedule). */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      const next = [...this.#timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort(([, a], [, b]) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      const [id, t] = next;
      this.#timers.delete(id);
      this.now = t.at;
      t.fn();
    }
    this.now = end;
  }

  /** Delays of the pending timers, for asserts on what is scheduled. */
  pending() {
    return [...this.#timers.values()].map((t) => t.at - this.now).sort((a, b) => a - b);
  }
}

/**
 * A WebSocket stand-in. Every instance is recorded in FakeWebSocket.sockets;
 * the test plays the node with open(), receive(), serverClose().
 */
export class FakeWebSocket {
  static sockets = [];
  static reset() {
    FakeWebSocket.sockets = [];
  }
  static get last() {
    return FakeWebSocket.sockets.at(-1);
  }

  url;
  sent = []; // frames the client sent, parsed
  closedWith = null; // {code, reason} when the client called close()
  readyState = 0;
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;

  constructor(url) {
    this.url = url;
    FakeWebSocket.sockets.push(this);
  }

  send(data) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(JSON.parse(data));
  }

  close(code, reason) {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }

  // ---- the node's side ----

  open() {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** Delivers a frame (an object is JSON-encoded; anything else is passed as is). */
  receive(frame) {
    const data = typeof frame === "string" || frame instanceof ArrayBuffer ? frame : JSON.stringify(frame);
    this.onmessage?.({ data });
  }

  error(message = "network error") {
    this.onerror?.({ message });
  }

  serverClose(code, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** Opens, welcomes and (if the client sent auth) authenticates as user. */
  handshake({ user = "alice", pingIntervalMs = 25_000, connId = "c1", nodeId = "n1" } = {}) {
    if (this.readyState !== 1) this.open();
    this.receive({ type: "welcome", conn_id: connId, node_id: nodeId, ping_interval_ms: pingIntervalMs, auth_timeout_ms: 10_000, guests: "off" });
    const auth = this.lastSent("auth");
    if (auth) this.receive({ type: "authenticated", user, conn_type: "user", ref: auth.id });
  }

  sentOf(type) {
    return this.sent.filter((f) => f.type === type);
  }

  lastSent(type) {
    return this.sentOf(type).at(-1);
  }
}

/** Lets promise callbacks and async functions run. */
export function flush() {
  return new Promise((resolve) => setImmediate(resolve));
}
