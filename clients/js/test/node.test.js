// Integration tests of wsnode.js against a real wsnode node (embedded Redis,
// history on): auth, rooms, acks, direct messages, the application ping, token
// expiry (4005), and exactly-once recovery after an admin disconnect; a node
// restart (drain 1001, new history epoch) is survived and reported as missed.
//
// Waits are generous and nothing asserts on speed: this must hold on a busy
// 2-core machine.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { Client } from "../wsnode.js";
import { WsnodeProcess, wsnodeBinary, waitFor } from "./wsnode-process.js";

const WAIT = 20_000; // for anything the node should do "soon"

const binary = typeof globalThis.WebSocket === "function" ? await wsnodeBinary() : { skip: "no global WebSocket (run node with --experimental-websocket)" };
const skip = binary.skip ?? false;

describe("against a real node", { skip, timeout: 120_000 }, () => {
  /** @type {WsnodeProcess} */
  let node;
  const clients = [];

  before(async () => {
    node = new WsnodeProcess(binary.bin, [
      "--history-size", "200",
      "--ping-interval", "2s",
      "--pong-timeout", "3s",
      "--jwt-leeway", "0s",
      "--shutdown-timeout", "5s",
    ]);
    await node.start();
  });

  after(async () => {
    for (const c of clients) c.close();
    await node?.stop();
  });

  /** A client of user (token from `wsnode token`), connected; closed after the suite. */
  async function connect(user, options = {}) {
    const token = options.token ?? (await node.token(user));
    const client = new Client(node.wsUrl, { token, backoff: { base: 100, max: 1_000, factor: 2 }, requestTimeout: WAIT, ...options });
    clients.push(client);
    await waitFor(() => client.state === "connected", WAIT, `${user} connected`);
    return client;
  }

  /** Collects a room's messages (after the client's dedup). */
  function collect(room) {
    const got = [];
    room.on("message", (f) => got.push(f));
    return got;
  }

  test("connects and authenticates with a minted token", async () => {
    const alice = await connect("alice");
    assert.equal(alice.user, "alice");
    assert.equal(alice.connType, "user");
    assert.match(alice.connId, /\S/);
    assert.match(alice.nodeId, /\S/);
    assert.equal(alice.pingIntervalMs, 2_000);
    assert.equal((await alice.ping()).type, "pong");
  });

  test("join, publish with ack (offset in a history room), echo, history", async () => {
    const alice = await connect("alice");
    const room = alice.room("js-basic");
    const got = collect(room);
    const joined = await room.join();
    assert.equal(joined.room, "js-basic");
    assert.equal(room.joined, true);
    const ack = await room.publish({ n: 1 });
    assert.equal(ack.type, "ack");
    assert.equal(ack.offset, 1);
    assert.match(ack.epoch, /^[A-Za-z0-9]+$/);
    await waitFor(() => got.length === 1, WAIT, "the echo");
    assert.equal(got[0].msg_id, ack.msg_id);
    assert.deepEqual(got[0].data, { n: 1 });
    assert.deepEqual([room.offset, room.epoch], [1, ack.epoch]);
    const hist = await room.history({ limit: 10 });
    assert.deepEqual(hist.messages.map((m) => m.data), [{ n: 1 }]);
    await assert.rejects(alice.room("js-not-member").history({ limit: 1 }), { code: "not_member" });
    const left = await room.leave();
    assert.equal(left.type, "left");
    assert.equal(room.joined, false);
  });

  test("direct to a user is acked and delivered; to an offline user rejects with offline", async () => {
    const alice = await connect("alice");
    const bob = await connect("bob");
    const got = [];
    bob.on("direct", (f) => got.push(f));
    const ack = await alice.direct({ toUser: "bob" }, { hi: "bob" });
    assert.equal(ack.type, "ack");
    await waitFor(() => got.length === 1, WAIT, "bob's direct");
    assert.equal(got[0].from.user, "alice");
    assert.deepEqual(got[0].data, { hi: "bob" });
    await alice.direct({ toConn: bob.connId }, "by conn");
    await waitFor(() => got.length === 2, WAIT, "the direct to bob's connection");
    await assert.rejects(alice.direct({ toUser: "nobody-here" }, 1), { code: "offline" });
  });

  test("the node's application ping is answered", async () => {
    const alice = await connect("alice");
    const seen = { ping: 0, pong: 0 };
    alice.on("frame", ({ dir, frame }) => {
      if (dir === "in" && frame?.type === "ping") seen.ping++;
      if (dir === "out" && frame?.type === "pong") seen.pong++;
    });
    await waitFor(() => seen.pong >= 1, WAIT, "a ping from the node and its pong");
    assert.ok(seen.ping >= 1);
  });

  test("a bad token stops the client with 4500", async () => {
    const client = new Client(node.wsUrl, { token: "not-a-jwt", requestTimeout: WAIT });
    clients.push(client);
    const stopped = new Promise((res) => client.on("stopped", res));
    const info = await stopped;
    assert.equal(info.code, 4500);
    assert.equal(client.state, "stopped");
  });

  test("after 4005 (token expired) the provider is asked again and the client carries on", async () => {
    const issued = [];
    const alice = await connect("alice", {
      token: async () => {
        // The first token lives 2 s; the node closes with 4005 when it expires.
        const t = await node.token("alice", { ttl: issued.length === 0 ? "2s" : "1h" });
        issued.push(t);
        return t;
      },
    });
    const closes = [];
    alice.on("disconnected", (d) => closes.push(d.code));
    await waitFor(() => closes.includes(4005), WAIT, "the 4005 close");
    await waitFor(() => alice.state === "connected" && issued.length >= 2, WAIT, "a reconnect with a fresh token");
    assert.equal((await alice.ping()).type, "pong");
  });

  test("an admin disconnect: rejoin with since recovers every missed message exactly once, in order", async () => {
    // The reconnect waits for a gate in the token provider, so the messages
    // published while alice is away are certain to be published then.
    let release = () => {};
    let gated = false;
    const aliceToken = await node.token("alice");
    const alice = await connect("alice", {
      token: async () => {
        if (gated) await new Promise((res) => (release = res));
        return aliceToken;
      },
    });
    const bob = await connect("bob");
    const room = alice.room("js-recovery");
    const got = collect(room);
    const missed = [];
    const joins = [];
    room.on("missed", (m) => missed.push(m));
    room.on("joined", (f) => joins.push(f));
    await room.join();
    await bob.room("js-recovery").join();
    const publish = async (from, to) => {
      for (let i = from; i <= to; i++) await bob.room("js-recovery").publish(i);
    };
    await publish(1, 5);
    await waitFor(() => got.length === 5, WAIT, "the first 5 messages");

    gated = true;
    const disconnected = new Promise((res) => alice.once("disconnected", res));
    await node.disconnect(alice.connId, 4006, "test");
    assert.equal((await disconnected).code, 4006);
    await publish(6, 12); // alice is away
    gated = false;
    release();
    await waitFor(() => got.length >= 12, WAIT, "the recovered messages");
    await publish(13, 15); // live again
    await waitFor(() => got.length >= 15, WAIT, "live messages after the recovery");

    assert.deepEqual(got.map((f) => f.data), Array.from({ length: 15 }, (_, i) => i + 1));
    assert.deepEqual(got.map((f) => f.offset), Array.from({ length: 15 }, (_, i) => i + 1));
    assert.equal(joins.length, 2);
    assert.equal(joins[1].recovered, true);
    assert.deepEqual(missed, []);
  });

  // Last: it restarts the node. The embedded Redis goes with it, so the
  // history starts over (a new epoch) and the client must say it missed
  // messages, then carry on with the new stream.
  test("a node restart: 1001, reconnect, rejoin, recovered:false reported, new messages flow", async () => {
    const alice = await connect("alice");
    const room = alice.room("js-restart");
    const got = collect(room);
    const missed = [];
    room.on("missed", (m) => missed.push(m));
    await room.join();
    await room.publish("before");
    await waitFor(() => got.length === 1, WAIT, "the first message");
    const oldEpoch = room.epoch;
    const codes = [];
    alice.on("disconnected", (d) => codes.push(d.code));

    await node.stop("SIGTERM");
    await waitFor(() => codes.length >= 1, WAIT, "the drain close");
    assert.equal(codes[0], 1001);
    await node.start();
    await waitFor(() => alice.state === "connected" && room.joined, WAIT * 2, "reconnected and rejoined");
    assert.equal(missed.length, 1);
    assert.ok(["not_recovered", "epoch_changed"].includes(missed[0].reason), missed[0].reason);
    assert.deepEqual(missed[0].since, { offset: 1, epoch: oldEpoch });

    const ack = await room.publish("after");
    assert.equal(ack.offset, 1, "the new history starts over");
    await waitFor(() => got.length === 2, WAIT, "a message after the restart");
    assert.equal(got[1].data, "after");
  });
});
