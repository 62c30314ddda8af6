// Unit tests of wsnode.js against a fake WebSocket and a manual clock: no
// network, no wall clock, every delay asserted exactly.
import { test, describe, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { Client, ClientError, backoffDelay, closeAction, DEFAULTS } from "../wsnode.js";
import { FakeClock, FakeWebSocket, flush } from "./fakes.js";

/** A client on a fake socket and clock; events records every event it emits. */
function setup(options = {}) {
  const clock = new FakeClock();
  const events = [];
  const client = new Client("ws://node.test/ws", {
    WebSocket: FakeWebSocket,
    timers: clock,
    random: () => 0.5,
    token: "tok",
    autoConnect: false,
    ...options,
  });
  for (const name of ["state", "connected", "disconnected", "stopped", "direct", "broadcast", "error", "message"]) {
    client.on(name, (payload) => events.push({ name, payload }));
  }
  const of = (name) => events.filter((e) => e.name === name).map((e) => e.payload);
  client.connect();
  return { client, clock, events, of };
}

/** Settles a promise-returning call into {value} or {error} without awaiting the clock. */
function track(promise) {
  const result = { done: false };
  promise.then(
    (value) => Object.assign(result, { done: true, value }),
    (error) => Object.assign(result, { done: true, error }),
  );
  return result;
}

beforeEach(() => FakeWebSocket.reset());

describe("backoff", () => {
  test("full jitter: the delay is random * min(max, base * factor^attempt)", () => {
    const b = { base: 100, max: 5_000, factor: 3 };
    assert.equal(backoffDelay(0, b, () => 0), 0);
    assert.equal(backoffDelay(0, b, () => 0.999999), 99);
    assert.equal(backoffDelay(1, b, () => 0.5), 150);
    assert.equal(backoffDelay(2, b, () => 0.5), 450);
    assert.equal(backoffDelay(3, b, () => 0.999999), 2_699);
    assert.equal(backoffDelay(4, b, () => 0.999999), 4_999, "capped at max");
    assert.equal(backoffDelay(1_000, b, () => 0.5), 2_500, "no overflow at a huge attempt");
  });

  test("the jitter stays within [0, ceiling) for any random value", () => {
    for (const r of [0, 1e-9, 0.25, 0.5, 0.75, 0.999999999, 1, -1, 2, NaN]) {
      for (let attempt = 0; attempt < 8; attempt++) {
        const ceiling = Math.min(10_000, 250 * 2 ** attempt);
        const d = backoffDelay(attempt, DEFAULTS.backoff, () => r);
        assert.ok(d >= 0 && d <= ceiling, `attempt ${attempt}, random ${r}: ${d} not in [0, ${ceiling}]`);
      }
    }
  });

  test("reconnect delays grow by the factor up to the cap, and the socket opens exactly then", () => {
    const { clock, of } = setup({ backoff: { base: 100, max: 1_000, factor: 2 } });
    const expected = [50, 100, 200, 400, 500, 500];
    for (const delay of expected) {
      const before = FakeWebSocket.sockets.length;
      FakeWebSocket.last.serverClose(1006);
      assert.equal(of("disconnected").at(-1).delayMs, delay);
      clock.advance(delay - 1);
      assert.equal(FakeWebSocket.sockets.length, before, "not before the delay");
      clock.advance(1);
      assert.equal(FakeWebSocket.sockets.length, before + 1, "right at the delay");
    }
  });

  test("the attempt counter resets after a connection stayed up for stableAfter", () => {
    const { clock, of } = setup({ backoff: { base: 100, max: 10_000, factor: 2 }, stableAfter: 1_000 });
    FakeWebSocket.last.serverClose(1006);
    clock.advance(50);
    FakeWebSocket.last.serverClose(1006);
    clock.advance(100);
    assert.deepEqual(of("disconnected").map((d) => d.delayMs), [50, 100]);
    // Up, but dropped before it counted as stable: the delay keeps growing.
    FakeWebSocket.last.handshake();
    clock.advance(999);
    FakeWebSocket.last.serverClose(1006);
    assert.equal(of("disconnected").at(-1).delayMs, 200);
    clock.advance(200);
    FakeWebSocket.last.handshake();
    clock.advance(1_000);
    FakeWebSocket.last.serverClose(1006);
    assert.equal(of("disconnected").at(-1).delayMs, 50, "back to the first attempt");
  });

  test("bad backoff options fail at construction", () => {
    assert.throws(() => new Client("ws://x", { WebSocket: FakeWebSocket, backoff: { base: -1 } }), TypeError);
    assert.throws(() => new Client("ws://x", { WebSocket: FakeWebSocket, backoff: { factor: 0.5 } }), TypeError);
    assert.throws(() => new Client("ws://x", { WebSocket: FakeWebSocket, requestTimeout: NaN }), TypeError);
  });
});

describe("close-code policy", () => {
  test("closeAction classifies every class of code", () => {
    assert.equal(closeAction(1001), "now");
    for (const code of [1000, 1006, 1011, 4000, 4001, 4002, 4003, 4004, 4006, 4007, 4499]) {
      assert.equal(closeAction(code), "backoff", `code ${code}`);
    }
    assert.equal(closeAction(4005), "fresh_token");
    for (const code of [1007, 1008, 1009, 4500, 4501, 4502, 4999]) assert.equal(closeAction(code), "stop", `code ${code}`);
  });

  test("1001 reconnects at once and does not count as an attempt", () => {
    const { clock, client, of } = setup({ backoff: { base: 100, max: 10_000, factor: 2 } });
    FakeWebSocket.last.handshake();
    FakeWebSocket.last.serverClose(1001, "draining");
    assert.deepEqual(of("disconnected").at(-1), { code: 1001, reason: "draining", willReconnect: true, delayMs: 0 });
    assert.equal(client.state, "disconnected");
    clock.advance(0);
    assert.equal(FakeWebSocket.sockets.length, 2);
    assert.equal(client.state, "connecting");
    FakeWebSocket.last.serverClose(1006);
    assert.equal(of("disconnected").at(-1).delayMs, 50, "first backoff attempt");
  });

  for (const code of [1006, 4000, 4001, 4002, 4003, 4004, 4006, 4007, 4499, 1000, 1011]) {
    test(`${code} reconnects with backoff`, () => {
      const { clock, client, of } = setup();
      FakeWebSocket.last.handshake();
      FakeWebSocket.last.serverClose(code, "r");
      const d = of("disconnected").at(-1);
      assert.equal(d.willReconnect, true);
      assert.equal(d.delayMs, 125);
      assert.equal(client.state, "disconnected");
      clock.advance(125);
      assert.equal(FakeWebSocket.sockets.length, 2);
    });
  }

  for (const code of [1007, 1008, 1009, 4500, 4501, 4999]) {
    test(`${code} stops and reports why`, () => {
      const { clock, client, of } = setup();
      FakeWebSocket.last.handshake();
      const pending = track(client.ping());
      FakeWebSocket.last.serverClose(code, `reason ${code}`);
      assert.equal(client.state, "stopped");
      assert.deepEqual(of("stopped"), [{ code, reason: `reason ${code}` }]);
      assert.equal(of("state").at(-1).state, "stopped");
      assert.equal(of("disconnected").at(-1).willReconnect, false);
      clock.advance(60_000);
      assert.equal(FakeWebSocket.sockets.length, 1, "no reconnect");
      return flush().then(() => assert.ok(pending.error instanceof ClientError));
    });
  }

  test("an auth failure reports the error frame, then stops on 4500", () => {
    const { client, of } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    const auth = ws.lastSent("auth");
    ws.receive({ type: "welcome", conn_id: "c", node_id: "n", ping_interval_ms: 25_000 });
    ws.receive({ type: "error", code: "auth_failed", message: "token expired", ref: auth.id });
    ws.serverClose(4500, "auth failed");
    assert.equal(of("error")[0].code, "auth_failed");
    assert.equal(client.state, "stopped");
    assert.equal(of("connected").length, 0);
  });

  test("close() stops for good; pending requests reject with closed; connect() starts again", async () => {
    const { clock, client, of } = setup();
    FakeWebSocket.last.handshake();
    const queued = track(client.ping());
    client.close();
    await flush();
    assert.equal(queued.error.code, "closed");
    assert.deepEqual(FakeWebSocket.sockets[0].closedWith, { code: 1000, reason: "client closed" });
    assert.equal(client.state, "stopped");
    assert.deepEqual(of("stopped"), [{ code: 1000, reason: "client closed" }]);
    clock.advance(60_000);
    assert.equal(FakeWebSocket.sockets.length, 1);
    await assert.rejects(client.ping(), { code: "stopped" });
    client.connect();
    assert.equal(FakeWebSocket.sockets.length, 2);
    assert.equal(client.state, "connecting");
  });

  test("connect() is idempotent, and in backoff it reconnects at once", () => {
    const { client } = setup();
    client.connect();
    client.connect();
    assert.equal(FakeWebSocket.sockets.length, 1);
    FakeWebSocket.last.serverClose(1006);
    client.connect();
    assert.equal(FakeWebSocket.sockets.length, 2);
  });
});

describe("token", () => {
  test("the provider is called on every connect, and again after 4005", async () => {
    let calls = 0;
    const { clock, client } = setup({ token: async () => `t${++calls}` });
    await flush();
    FakeWebSocket.last.handshake();
    assert.equal(FakeWebSocket.last.lastSent("auth").token, "t1");
    assert.equal(client.user, "alice");
    FakeWebSocket.last.receive({ type: "error", code: "token_expired", message: "token expired" });
    FakeWebSocket.last.serverClose(4005, "token expired");
    assert.equal(client.state, "disconnected");
    clock.advance(125);
    await flush();
    assert.equal(calls, 2);
    FakeWebSocket.last.open();
    assert.equal(FakeWebSocket.last.lastSent("auth").token, "t2");
  });

  test("a failing provider is reported and retried with backoff", async () => {
    let calls = 0;
    const { clock, of } = setup({
      token: async () => {
        if (++calls === 1) throw new Error("no session");
        return "ok";
      },
    });
    await flush();
    assert.equal(FakeWebSocket.sockets.length, 0);
    assert.equal(of("error")[0].code, "token_failed");
    assert.equal(of("disconnected")[0].delayMs, 125);
    clock.advance(125);
    await flush();
    assert.equal(FakeWebSocket.sockets.length, 1);
  });

  test("without a token the client is a guest: connected on welcome, no auth frame", () => {
    const { client, of } = setup({ token: undefined });
    FakeWebSocket.last.handshake();
    assert.equal(FakeWebSocket.last.sentOf("auth").length, 0);
    assert.equal(client.state, "connected");
    assert.deepEqual(of("connected")[0], { connId: "c1", nodeId: "n1", user: null, connType: null });
  });

  test("the token never shows on the frame event", () => {
    const { client } = setup();
    const out = [];
    client.on("frame", (e) => e.dir === "out" && out.push(e.frame));
    FakeWebSocket.last.handshake();
    assert.equal(out[0].type, "auth");
    assert.notEqual(out[0].token, "tok");
    assert.equal(FakeWebSocket.last.lastSent("auth").token, "tok");
  });
});

describe("requests", () => {
  test("replies are matched by ref, whatever their order", async () => {
    const { client } = setup();
    FakeWebSocket.last.handshake();
    const a = client.request({ type: "ping" });
    const b = client.request({ type: "history", room: "r" });
    const [fa, fb] = FakeWebSocket.last.sent.slice(-2);
    assert.notEqual(fa.id, fb.id);
    FakeWebSocket.last.receive({ type: "history", room: "r", messages: [], ref: fb.id });
    FakeWebSocket.last.receive({ type: "pong", ts: 7, ref: fa.id });
    assert.equal((await a).type, "pong");
    assert.equal((await b).type, "history");
  });

  test("an error frame with the ref rejects with its code; one without a ref goes to the error event", async () => {
    const { client, of } = setup();
    FakeWebSocket.last.handshake();
    const p = client.direct({ toUser: "bob" }, { hi: 1 });
    const sent = FakeWebSocket.last.lastSent("direct");
    assert.deepEqual(sent, { type: "direct", to_user: "bob", data: { hi: 1 }, id: sent.id });
    FakeWebSocket.last.receive({ type: "error", code: "offline", message: "bob is offline", ref: sent.id, msg_id: "m1" });
    await assert.rejects(p, (err) => err instanceof ClientError && err.code === "offline" && err.frame.msg_id === "m1");
    FakeWebSocket.last.receive({ type: "error", code: "rate_limited", message: "slow down" });
    assert.equal(of("error").at(-1).code, "rate_limited");
  });

  test("a request times out after requestTimeout; a late reply is ignored", async () => {
    const { client, clock } = setup({ requestTimeout: 2_000 });
    FakeWebSocket.last.handshake();
    const p = track(client.ping());
    const id = FakeWebSocket.last.lastSent("ping").id;
    clock.advance(1_999);
    await flush();
    assert.equal(p.done, false);
    clock.advance(1);
    await flush();
    assert.equal(p.error.code, "timeout");
    FakeWebSocket.last.receive({ type: "pong", ts: 1, ref: id }); // no throw, nothing resolves twice
  });

  test("a per-request timeout overrides requestTimeout", async () => {
    const { client, clock } = setup({ requestTimeout: 2_000 });
    FakeWebSocket.last.handshake();
    const p = track(client.request({ type: "ping" }, { timeout: 50 }));
    clock.advance(50);
    await flush();
    assert.equal(p.error.code, "timeout");
  });

  test("requests made while disconnected wait and go out after the handshake", async () => {
    const { client } = setup();
    const p = client.ping();
    const ws = FakeWebSocket.last;
    ws.open();
    assert.deepEqual(ws.sent.map((f) => f.type), ["auth"]);
    ws.handshake();
    const ping = ws.lastSent("ping");
    assert.ok(ping);
    ws.receive({ type: "pong", ts: 1, ref: ping.id });
    assert.equal((await p).type, "pong");
  });

  test("a sent request rejects with disconnected when the socket closes", async () => {
    const { client } = setup();
    FakeWebSocket.last.handshake();
    const p = client.broadcast({ x: 1 }, { echo: false });
    assert.equal(FakeWebSocket.last.lastSent("broadcast").echo, false);
    FakeWebSocket.last.serverClose(1006);
    await assert.rejects(p, { code: "disconnected" });
  });

  test("publish resolves with the ack", async () => {
    const { client } = setup();
    FakeWebSocket.last.handshake();
    const room = client.room("r");
    const p = room.publish({ text: "hi" }, { echo: false });
    const sent = FakeWebSocket.last.lastSent("message");
    assert.deepEqual(sent, { type: "message", room: "r", data: { text: "hi" }, echo: false, id: sent.id });
    FakeWebSocket.last.receive({ type: "ack", ref: sent.id, msg_id: "m9", offset: 3, epoch: "e" });
    assert.deepEqual(await p, { type: "ack", ref: sent.id, msg_id: "m9", offset: 3, epoch: "e" });
  });
});

describe("ping and dead connections", () => {
  test("the node's application ping is answered with pong", () => {
    setup();
    FakeWebSocket.last.handshake();
    FakeWebSocket.last.receive({ type: "ping", ts: 123 });
    assert.deepEqual(FakeWebSocket.last.sent.at(-1), { type: "pong" });
  });

  test("client.ping() resolves with the node's pong", async () => {
    const { client } = setup();
    FakeWebSocket.last.handshake();
    const p = client.ping();
    FakeWebSocket.last.receive({ type: "pong", ts: 5, ref: FakeWebSocket.last.lastSent("ping").id });
    assert.equal((await p).ts, 5);
    assert.equal(FakeWebSocket.last.sentOf("pong").length, 0, "a pong reply is not answered");
  });

  test("no frame within ping interval + margin: the client closes the socket and reconnects", () => {
    const { client, clock, of } = setup({ pingMargin: 500 });
    const ws = FakeWebSocket.last;
    ws.handshake({ pingIntervalMs: 1_000 });
    assert.equal(client.pingIntervalMs, 1_000);
    clock.advance(1_499);
    ws.receive({ type: "ping", ts: 1 }); // any frame resets the timer
    clock.advance(1_499);
    assert.equal(ws.closedWith, null);
    assert.equal(client.state, "connected");
    clock.advance(1);
    assert.notEqual(ws.closedWith, null, "the silent socket was closed");
    const d = of("disconnected").at(-1);
    assert.equal(d.code, 1006);
    assert.match(d.reason, /no frame within 1500 ms/);
    clock.advance(d.delayMs);
    assert.equal(FakeWebSocket.sockets.length, 2);
    ws.serverClose(1006); // the old socket's late close is ignored
    assert.equal(of("disconnected").length, 1);
  });

  test("an error event without a close event gives the socket up after a grace period", () => {
    const { clock, of } = setup();
    FakeWebSocket.last.error("Received network error or non-101 status code.");
    clock.advance(499);
    assert.equal(of("disconnected").length, 0);
    clock.advance(1);
    assert.deepEqual(of("disconnected")[0], { code: 1006, reason: "Received network error or non-101 status code.", willReconnect: true, delayMs: 125 });
  });

  test("an error event followed by a close event reports the close's code", () => {
    const { clock, client, of } = setup();
    FakeWebSocket.last.handshake();
    FakeWebSocket.last.error();
    FakeWebSocket.last.serverClose(4501, "auth timeout");
    clock.advance(10_000);
    assert.equal(client.state, "stopped");
    assert.equal(of("disconnected").length, 1);
  });

  test("a token function that never settles: given up after connectTimeout, then asked again", async () => {
    let calls = 0;
    const { clock, of } = setup({ connectTimeout: 3_000, token: () => (++calls === 1 ? new Promise(() => {}) : "t") });
    await flush();
    clock.advance(3_000);
    assert.equal(of("disconnected")[0].code, 1006);
    clock.advance(of("disconnected")[0].delayMs);
    await flush();
    assert.equal(calls, 2);
    FakeWebSocket.last.handshake();
    assert.equal(FakeWebSocket.last.lastSent("auth").token, "t");
  });

  test("no welcome within connectTimeout: give up on the socket and back off", () => {
    const { clock, of } = setup({ connectTimeout: 3_000 });
    FakeWebSocket.last.open();
    clock.advance(2_999);
    assert.equal(of("disconnected").length, 0);
    clock.advance(1);
    assert.equal(of("disconnected")[0].code, 1006);
    assert.notEqual(FakeWebSocket.sockets[0].closedWith, null);
  });
});

describe("rooms", () => {
  /** Connects, joins rooms (a history position for those in positions) and returns them. */
  async function joinAll(client, names, positions = {}) {
    const rooms = [];
    for (const name of names) {
      const room = client.room(name);
      const p = room.join();
      const join = FakeWebSocket.last.lastSent("join");
      assert.equal(join.room, name);
      const pos = positions[name];
      FakeWebSocket.last.receive({ type: "joined", room: name, ref: join.id, ...(pos ? { offset: pos[0], epoch: pos[1] } : {}) });
      await p;
      rooms.push(room);
    }
    return rooms;
  }

  test("after a reconnect wanted rooms are rejoined in first-join order, with since when known", async () => {
    const { client, clock } = setup();
    FakeWebSocket.last.handshake();
    const [b, a, c, d] = await joinAll(client, ["b", "a", "c", "d"], { a: [10, "E1"], c: [0, "E2"] });
    assert.equal(b.joined, true);
    FakeWebSocket.last.receive({ type: "message", room: "a", data: 1, offset: 11, epoch: "E1" });
    assert.equal(a.offset, 11);
    const left = d.leave(); // sends leave; no longer wanted
    FakeWebSocket.last.receive({ type: "left", room: "d", ref: FakeWebSocket.last.lastSent("leave").id });
    await left;
    FakeWebSocket.last.serverClose(4006);
    assert.equal(a.joined, false);
    clock.advance(125);
    FakeWebSocket.last.handshake();
    const joins = FakeWebSocket.last.sentOf("join").map(({ id, ...rest }) => rest);
    assert.deepEqual(joins, [
      { type: "join", room: "b" },
      { type: "join", room: "a", since: { offset: 11, epoch: "E1" } },
      { type: "join", room: "c", since: { offset: 0, epoch: "E2" } },
    ]);
    assert.deepEqual(client.rooms.map((r) => r.name), ["b", "a", "c"]);
    assert.equal(c.wanted, true);
  });

  test("a room left and joined again goes to the end of the order", async () => {
    const { client, clock } = setup();
    FakeWebSocket.last.handshake();
    const [x] = await joinAll(client, ["x", "y"]);
    const left = x.leave();
    FakeWebSocket.last.receive({ type: "left", room: "x", ref: FakeWebSocket.last.lastSent("leave").id });
    await left;
    await joinAll(client, ["x"]);
    FakeWebSocket.last.serverClose(1006);
    clock.advance(125);
    FakeWebSocket.last.handshake();
    assert.deepEqual(FakeWebSocket.last.sentOf("join").map((f) => f.room), ["y", "x"]);
  });

  test("recovered:true keeps the position and the replay is deduplicated by offset", async () => {
    const { client, clock, of } = setup();
    const seen = [];
    const missed = [];
    const joinedFrames = [];
    const room = client.room("h", {
      onMessage: (f) => seen.push(f.offset),
      onMissed: (m) => missed.push(m),
      onJoined: (f) => joinedFrames.push(f),
    });
    FakeWebSocket.last.handshake();
    const p = room.join();
    FakeWebSocket.last.receive({ type: "joined", room: "h", ref: FakeWebSocket.last.lastSent("join").id, offset: 5, epoch: "E" });
    assert.equal((await p).offset, 5);
    for (const o of [6, 7]) FakeWebSocket.last.receive({ type: "message", room: "h", data: o, offset: o, epoch: "E" });
    FakeWebSocket.last.serverClose(1006);
    clock.advance(125);
    FakeWebSocket.last.handshake();
    const join = FakeWebSocket.last.lastSent("join");
    assert.deepEqual(join.since, { offset: 7, epoch: "E" });
    FakeWebSocket.last.receive({ type: "joined", room: "h", ref: join.id, offset: 9, epoch: "E", recovered: true });
    // A replay overlapping what was seen (6, 7 again), then the missed 8, 9, then live.
    for (const o of [6, 7, 8, 9, 9, 10]) FakeWebSocket.last.receive({ type: "message", room: "h", data: o, offset: o, epoch: "E" });
    assert.deepEqual(seen, [6, 7, 8, 9, 10]);
    assert.equal(of("message").length, 5, "the client-wide message event is deduplicated too");
    assert.equal(room.offset, 10);
    assert.deepEqual(missed, []);
    assert.equal(joinedFrames.length, 2);
    assert.equal(joinedFrames[1].recovered, true);
  });

  test("recovered:false reports missed messages (not_recovered, epoch_changed) and takes the node's position", async () => {
    const { client, clock } = setup();
    const missed = [];
    const room = client.room("h", { onMissed: (m) => missed.push(m) });
    FakeWebSocket.last.handshake();
    const p = room.join();
    FakeWebSocket.last.receive({ type: "joined", room: "h", ref: FakeWebSocket.last.lastSent("join").id, offset: 5, epoch: "E" });
    await p;
    const reconnect = () => {
      FakeWebSocket.last.serverClose(1006);
      clock.advance(10_000);
      FakeWebSocket.last.handshake();
      return FakeWebSocket.last.lastSent("join");
    };
    let join = reconnect();
    FakeWebSocket.last.receive({ type: "joined", room: "h", ref: join.id, offset: 400, epoch: "E", recovered: false });
    assert.deepEqual(missed.at(-1), { room: "h", reason: "not_recovered", since: { offset: 5, epoch: "E" }, offset: 400, epoch: "E" });
    join = reconnect();
    assert.deepEqual(join.since, { offset: 400, epoch: "E" });
    FakeWebSocket.last.receive({ type: "joined", room: "h", ref: join.id, offset: 2, epoch: "F", recovered: false });
    assert.equal(missed.at(-1).reason, "epoch_changed");
    assert.equal(room.epoch, "F");
    assert.equal(room.offset, 2);
    // An old-epoch position must not drop the new epoch's messages.
    FakeWebSocket.last.receive({ type: "message", room: "h", data: 3, offset: 3, epoch: "F" });
    assert.equal(room.offset, 3);
  });

  test("a rejoined room without history reports no_history", async () => {
    const { client, clock } = setup();
    const missed = [];
    const room = client.room("plain", { onMissed: (m) => missed.push(m) });
    FakeWebSocket.last.handshake();
    const p = room.join();
    FakeWebSocket.last.receive({ type: "joined", room: "plain", ref: FakeWebSocket.last.lastSent("join").id });
    await p;
    assert.equal(room.offset, null);
    assert.deepEqual(missed, [], "a first join misses nothing");
    FakeWebSocket.last.serverClose(1001);
    clock.advance(0);
    FakeWebSocket.last.handshake();
    const join = FakeWebSocket.last.lastSent("join");
    assert.equal(join.since, undefined);
    FakeWebSocket.last.receive({ type: "joined", room: "plain", ref: join.id });
    assert.deepEqual(missed, [{ room: "plain", reason: "no_history", since: null, offset: null, epoch: null }]);
  });

  test("an empty history room (offset 0, no epoch) rejoins without since; missed only if it moved", async () => {
    const { client, clock } = setup();
    const missed = [];
    const seen = [];
    const room = client.room("h", { onMissed: (m) => missed.push(m), onMessage: (f) => seen.push(f.offset) });
    FakeWebSocket.last.handshake();
    const p = room.join();
    FakeWebSocket.last.receive({ type: "joined", room: "h", ref: FakeWebSocket.last.lastSent("join").id, offset: 0 });
    await p;
    assert.deepEqual([room.offset, room.epoch], [0, null]);
    const rejoin = (offset) => {
      FakeWebSocket.last.serverClose(1006);
      clock.advance(10_000);
      FakeWebSocket.last.handshake();
      const join = FakeWebSocket.last.lastSent("join");
      assert.equal(join.since, undefined, "no since without an epoch");
      FakeWebSocket.last.receive({ type: "joined", room: "h", ref: join.id, offset, ...(offset ? { epoch: "E" } : {}) });
    };
    rejoin(0);
    assert.deepEqual(missed, []);
    rejoin(3);
    assert.equal(missed[0].reason, "not_recovered");
    assert.deepEqual([room.offset, room.epoch], [3, "E"]);
    FakeWebSocket.last.receive({ type: "message", room: "h", data: 4, offset: 4, epoch: "E" });
    assert.deepEqual(seen, [4]);
  });

  test("a message of a new epoch mid-stream is delivered and reported as epoch_changed", async () => {
    const { client } = setup();
    const missed = [];
    const seen = [];
    const room = client.room("h", { onMissed: (m) => missed.push(m), onMessage: (f) => seen.push(f.data) });
    FakeWebSocket.last.handshake();
    const p = room.join();
    FakeWebSocket.last.receive({ type: "joined", room: "h", ref: FakeWebSocket.last.lastSent("join").id, offset: 50, epoch: "E" });
    await p;
    FakeWebSocket.last.receive({ type: "message", room: "h", data: "new", offset: 1, epoch: "G" });
    assert.deepEqual(seen, ["new"]);
    assert.equal(missed[0].reason, "epoch_changed");
    assert.equal(room.epoch, "G");
  });

  test("join() while disconnected resolves on the next connect; c.room() returns the same object", async () => {
    const { client } = setup();
    const room = client.room("lobby");
    assert.equal(client.room("lobby"), room);
    const p = room.join();
    FakeWebSocket.last.handshake();
    const join = FakeWebSocket.last.lastSent("join");
    assert.equal(FakeWebSocket.last.sentOf("join").length, 1, "joined once, not twice");
    FakeWebSocket.last.receive({ type: "joined", room: "lobby", ref: join.id });
    assert.equal((await p).room, "lobby");
    assert.equal((await room.join()).room, "lobby", "joining a joined room resolves at once");
    assert.equal(FakeWebSocket.last.sentOf("join").length, 1);
  });

  test("a refused join rejects and the room is no longer wanted", async () => {
    const { client } = setup();
    FakeWebSocket.last.handshake();
    const room = client.room("bad name");
    const p = room.join();
    FakeWebSocket.last.receive({ type: "error", code: "invalid_name", message: "bad room", ref: FakeWebSocket.last.lastSent("join").id });
    await assert.rejects(p, { code: "invalid_name" });
    assert.equal(room.wanted, false);
    assert.deepEqual(client.rooms, []);
  });

  test("a refused rejoin is reported on the room and the room stays wanted", async () => {
    const { client, clock, of } = setup();
    FakeWebSocket.last.handshake();
    const room = client.room("r");
    const errors = [];
    room.on("error", (e) => errors.push(e));
    const p = room.join();
    FakeWebSocket.last.receive({ type: "joined", room: "r", ref: FakeWebSocket.last.lastSent("join").id });
    await p;
    FakeWebSocket.last.serverClose(1006);
    clock.advance(125);
    FakeWebSocket.last.handshake();
    FakeWebSocket.last.receive({ type: "error", code: "unavailable", message: "retry", ref: FakeWebSocket.last.lastSent("join").id });
    await flush();
    assert.equal(errors[0].code, "unavailable");
    assert.equal(of("error").at(-1).code, "unavailable");
    assert.equal(room.wanted, true);
  });

  test("messages of a room no longer wanted are dropped", async () => {
    const { client } = setup();
    FakeWebSocket.last.handshake();
    const seen = [];
    const room = client.room("r", { onMessage: (f) => seen.push(f) });
    const p = room.join();
    FakeWebSocket.last.receive({ type: "joined", room: "r", ref: FakeWebSocket.last.lastSent("join").id });
    await p;
    const left = room.leave();
    FakeWebSocket.last.receive({ type: "message", room: "r", data: "in flight" });
    FakeWebSocket.last.receive({ type: "left", room: "r", ref: FakeWebSocket.last.lastSent("leave").id });
    assert.equal((await left).type, "left");
    assert.deepEqual(seen, []);
  });
});

describe("bad input from the node", () => {
  test("non-JSON, non-object, typeless, binary and unknown frames never throw and show on frame", async () => {
    const { client, of } = setup();
    const inbound = [];
    client.on("frame", (e) => e.dir === "in" && inbound.push(e));
    FakeWebSocket.last.handshake();
    const bad = ["{nope", "[1,2]", "null", "42", '"s"', '{"no":"type"}', '{"type":5}', new ArrayBuffer(3)];
    for (const raw of bad) FakeWebSocket.last.receive(raw);
    const weird = [
      { type: "from-the-future", x: 1 },
      { type: "message" }, // no room
      { type: "joined", room: 5 },
      { type: "error" }, // no code
      { type: "ack", ref: { obj: 1 } },
      { type: "welcome", ping_interval_ms: "soon" },
    ];
    for (const f of weird) FakeWebSocket.last.receive(f);
    const unusable = inbound.filter((e) => e.frame === null);
    assert.equal(unusable.length, bad.length);
    for (const e of unusable) assert.equal(typeof e.error, "string");
    assert.ok(inbound.some((e) => e.frame?.type === "from-the-future"));
    assert.equal(of("error").length, 1, "the code-less error frame was reported");
    // Still working.
    const p = client.ping();
    FakeWebSocket.last.receive({ type: "pong", ts: 1, ref: FakeWebSocket.last.lastSent("ping").id });
    assert.equal((await p).type, "pong");
  });

  test("a throwing listener does not break the client; onListenerError hears of it", () => {
    const reported = [];
    const { client } = setup({ onListenerError: (err, event) => reported.push([err.message, event]) });
    client.on("connected", () => {
      throw new Error("listener bug");
    });
    const seen = [];
    client.on("connected", () => seen.push("second listener"));
    FakeWebSocket.last.handshake();
    assert.equal(client.state, "connected");
    assert.deepEqual(reported, [["listener bug", "connected"]]);
    assert.deepEqual(seen, ["second listener"]);
  });
});

describe("events", () => {
  test("autoConnect connects in a microtask, so listeners added after the constructor see connecting", async () => {
    const client = new Client("ws://x/ws", { WebSocket: FakeWebSocket, timers: new FakeClock() });
    const states = [];
    client.on("state", (s) => states.push(s.state));
    assert.equal(FakeWebSocket.sockets.length, 0);
    await flush();
    assert.equal(FakeWebSocket.sockets.length, 1);
    assert.deepEqual(states, ["connecting"]);
    client.close();
  });

  test("close() right after the constructor prevents the automatic connect", async () => {
    const client = new Client("ws://x/ws", { WebSocket: FakeWebSocket, timers: new FakeClock() });
    client.close();
    await flush();
    assert.equal(FakeWebSocket.sockets.length, 0);
    assert.equal(client.state, "stopped");
  });

  test("state events follow the connection", () => {
    const { client, clock, of } = setup();
    FakeWebSocket.last.handshake({ connId: "c7", nodeId: "n3" });
    assert.deepEqual([client.connId, client.nodeId, client.user, client.connType], ["c7", "n3", "alice", "user"]);
    FakeWebSocket.last.serverClose(4000, "inactive");
    clock.advance(125);
    assert.deepEqual(
      of("state").map((s) => s.state),
      ["connecting", "connected", "disconnected", "connecting"],
    );
    assert.deepEqual(of("state")[2], { state: "disconnected", code: 4000, reason: "inactive", willReconnect: true, delayMs: 125 });
  });

  test("direct and broadcast frames are emitted; on() returns an unsubscribe function", () => {
    const { client, of } = setup();
    FakeWebSocket.last.handshake();
    const got = [];
    const off = client.on("direct", (f) => got.push(f));
    FakeWebSocket.last.receive({ type: "direct", from: { user: "bob" }, data: 1, msg_id: "m", ts: 1 });
    off();
    FakeWebSocket.last.receive({ type: "direct", from: { user: "bob" }, data: 2, msg_id: "m2", ts: 2 });
    FakeWebSocket.last.receive({ type: "broadcast", from: { system: true }, data: 3, msg_id: "m3", ts: 3 });
    assert.equal(got.length, 1);
    assert.equal(of("direct").length, 2);
    assert.equal(of("broadcast")[0].data, 3);
  });
});
