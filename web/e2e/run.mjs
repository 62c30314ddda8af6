// Browser scenarios for the demo chat and the dashboard, run by
// web/browser_test.go against a real cluster (redis, 3 nodes, haproxy).
//
//   node run.mjs cluster.json
//
// cluster.json: {baseURL, adminKey, nodes: [{id, pid, ws, admin}], haproxyPID,
// tokens: {alice, bob, bad}, outDir, chromium, profileDir}. Prints one line
// per step and, last, "RESULT {ok, scenarios: {name: ms}, failures, screenshots}".
// Every check waits for a condition (polling); none relies on a fixed sleep.

import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const result = {ok: false, scenarios: {}, failures: [], screenshots: []};
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const HIST = "hist-lobby"; // a history room (--history-rooms hist-*)

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// waitFor polls fn (sync or async) until it returns a truthy value.
async function waitFor(what, fn, timeout = 15_000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise(r => setTimeout(r, 50));
  }
}

async function admin(node, method, p, body) {
  const res = await fetch(`http://${node.admin}${p}`, {
    method, headers: {Authorization: `Bearer ${cfg.adminKey}`, "Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p} on ${node.id}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function shot(page, name) {
  await page.bringToFront();
  const file = path.join(cfg.outDir, name + ".png");
  await page.screenshot({path: file, fullPage: true});
  result.screenshots.push(file);
  log(`screenshot ${file}`);
}

async function scenario(name, fn) {
  const start = Date.now();
  log(`---- ${name}`);
  try {
    await fn();
    result.scenarios[name] = Date.now() - start;
    log(`ok   ${name} (${Date.now() - start} ms)`);
    return true;
  } catch (err) {
    result.failures.push(`${name}: ${err.message}`);
    log(`FAIL ${name}: ${err.stack}`);
    return false;
  }
}

// ---------------------------------------------------------------- chat page helpers

const status = page => page.$eval("#status", s => ({...s.dataset, text: s.textContent}));

async function openChat(ctx, token, label) {
  const page = await ctx.newPage();
  page.on("pageerror", err => log(`${label} page error: ${err.message}`));
  page.on("console", m => { if (m.type() === "error") log(`${label} console: ${m.text()}`); });
  await page.goto(`${cfg.baseURL}/?token=${encodeURIComponent(token)}`);
  assert(!page.url().includes("token="), `${label}: the token stayed in the address bar`);
  return page;
}

async function connect(page, label) {
  await page.click("#connect");
  await page.waitForFunction(() => ["connected", "stopped"].includes(document.querySelector("#status").dataset.state),
    null, {timeout: 15_000});
  const s = await status(page);
  log(`${label}: ${s.text}`);
  return s;
}

async function join(page, room) {
  await page.fill("#room-input", room);
  await page.click("#join");
  await page.waitForSelector(`.pane[data-room="${room}"][data-joined="true"]`, {timeout: 15_000});
}

async function say(page, text) {
  await page.fill("#msg-input", text);
  await page.press("#msg-input", "Enter");
}

const messages = (page, room) => page.$$eval(`.pane[data-room="${room}"] .msg`, els => els.map(e => ({
  text: e.querySelector(".text").textContent, from: e.dataset.from, sender: e.querySelector(".sender").textContent,
  time: e.querySelector("time").textContent, own: e.classList.contains("own"),
  offset: e.dataset.offset === undefined ? null : Number(e.dataset.offset)})));

async function waitTexts(page, room, want, label) {
  return waitFor(`${label} to show ${JSON.stringify(want)} in ${room}`, async () => {
    const got = await messages(page, room);
    const texts = got.map(m => m.text);
    return want.every(w => texts.includes(w)) ? got : null;
  });
}

// ---------------------------------------------------------------- main

const browser = await chromium.launchPersistentContext(cfg.profileDir, {
  executablePath: cfg.chromium,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: {width: 1280, height: 900},
});
log("chromium up");

let alice, bob, aliceNode, bobNode;
const convo = [];

try {
  const chatOK = await scenario("chat across nodes", async () => {
    alice = await openChat(browser, cfg.tokens.alice, "alice");
    bob = await openChat(browser, cfg.tokens.bob, "bob");
    let s = await connect(alice, "alice");
    assert(s.state === "connected", `alice: ${s.text}`);
    aliceNode = s.node;
    s = await connect(bob, "bob");
    // haproxy balances round-robin: reconnect bob until he sits on another node.
    for (let i = 0; s.node === aliceNode && i < 8; i++) {
      await bob.click("#disconnect");
      await bob.waitForFunction(() => document.querySelector("#status").dataset.state === "stopped");
      s = await connect(bob, "bob");
    }
    assert(s.state === "connected" && s.node !== aliceNode, `bob stays on alice's node ${aliceNode}`);
    bobNode = s.node;
    log(`alice on ${aliceNode}, bob on ${bobNode}`);

    await join(alice, HIST);
    await join(bob, HIST);
    // Presence (--presence-rooms hist-*): bob shows among alice's members as
    // soon as he joins, before he has said anything, from another node.
    await alice.waitForSelector(`#members li.online[data-user="bob"]`, {timeout: 10_000});
    await alice.waitForFunction(() => document.querySelector("#members-note").textContent.startsWith("Live"),
      null, {timeout: 10_000});
    await say(alice, "hello from alice");
    await waitTexts(alice, HIST, ["hello from alice"], "alice");
    await say(bob, "hi alice, bob here");
    convo.push("hello from alice", "hi alice, bob here");
    for (const [page, me, other] of [[alice, "alice", "bob"], [bob, "bob", "alice"]]) {
      const got = await waitTexts(page, HIST, convo, me);
      assert(got.length === 2, `${me} shows ${got.length} messages: ${JSON.stringify(got)}`);
      assert(got[0].text === convo[0] && got[1].text === convo[1], `${me}: wrong order ${JSON.stringify(got)}`);
      for (const m of got) {
        assert(/^\d{2}:\d{2}:\d{2}$/.test(m.time), `${me}: no time on ${JSON.stringify(m)}`);
        const sender = m.text.includes("alice,") ? "bob" : "alice";
        assert(m.from === sender && m.sender.startsWith(sender), `${me}: sender of ${JSON.stringify(m)}`);
        assert(m.own === (sender === me), `${me}: own flag of ${JSON.stringify(m)}`);
      }
      // the other user shows among the people seen in the room
      await page.waitForSelector(`#members li[data-user="${other}"]`, {timeout: 5000});
    }
    // a direct message
    await bob.fill("#dm-to", "alice");
    await bob.fill("#dm-text", "psst, alice");
    await bob.press("#dm-text", "Enter");
    await alice.waitForFunction(() => [...document.querySelectorAll("#dms .msg")].some(
      e => e.textContent.includes("bob → you") && e.textContent.includes("psst, alice")), null, {timeout: 10_000});
    await bob.waitForFunction(() => [...document.querySelectorAll("#dms .msg")].some(
      e => e.textContent.includes("you → alice")), null, {timeout: 10_000});
  });

  if (chatOK) await scenario("drain: reconnect and recover in a history room", async () => {
    const drained = cfg.nodes.find(n => n.id === aliceNode);
    const survivor = cfg.nodes.find(n => n.id !== aliceNode);
    assert(drained && survivor, `no node ${aliceNode} in the config`);
    // Freeze haproxy so alice cannot rejoin before the gap messages are out:
    // the node's 1001 waits in haproxy's socket buffer meanwhile.
    process.kill(cfg.haproxyPID, "SIGSTOP");
    const gap = ["gap 1", "gap 2", "gap 3", "gap 4", "gap 5"];
    try {
      process.kill(drained.pid, "SIGTERM");
      log(`SIGTERM to ${drained.id} (pid ${drained.pid}), haproxy stopped`);
      // Wait until the drained node has exited: it no longer answers.
      await waitFor(`${drained.id} to exit`, async () => {
        try { await fetch(`http://${drained.admin}/healthz`); return false; } catch { return true; }
      }, 20_000);
      for (const text of gap) await admin(survivor, "POST", "/publish", {room: HIST, data: {text}});
      log(`published ${gap.length} messages during the gap through ${survivor.id}`);
    } finally {
      process.kill(cfg.haproxyPID, "SIGCONT");
    }
    convo.push(...gap);
    const s = await waitFor("alice to reconnect on another node", async () => {
      const st = await status(alice);
      return st.state === "connected" && st.node !== aliceNode && Number(st.reconnects) >= 1 ? st : null;
    }, 20_000);
    log(`alice reconnected to ${s.node} after close ${s.closeCode}`);
    assert(s.closeCode === "1001", `alice saw close ${s.closeCode}, want 1001`);
    await waitTexts(alice, HIST, gap, "alice");
    await say(bob, "welcome back, alice");
    await waitTexts(alice, HIST, ["welcome back, alice"], "alice");
    await say(alice, "thanks bob");
    convo.push("welcome back, alice", "thanks bob");
    for (const [page, me] of [[alice, "alice"], [bob, "bob"]]) {
      const got = await waitTexts(page, HIST, convo, me);
      const texts = got.map(m => m.text);
      assert(JSON.stringify(texts) === JSON.stringify(convo), `${me} shows ${JSON.stringify(texts)}, want ${JSON.stringify(convo)} (once each, in order)`);
      const offs = got.map(m => m.offset);
      assert(offs.every((o, i) => i === 0 || o === offs[i - 1] + 1), `${me}: offsets not consecutive: ${offs}`);
      const dups = await page.$eval(`.pane[data-room="${HIST}"]`, p => p.dataset.dups || "0");
      assert(dups === "0", `${me}: ${dups} duplicate deliveries hidden`);
    }
    // The rejoin asked for the missed messages and got them back.
    const frames = await alice.$$eval("#raw-frames li", els => els.map(e => e.textContent.replace(/^\S+ \S /, "")));
    const rejoin = frames.map(f => { try { return JSON.parse(f); } catch { return null; } })
      .filter(f => f && f.type === "joined" && f.room === HIST && f.recovered === true);
    assert(rejoin.length >= 1, "no joined frame with recovered:true in alice's raw frames");
    const note = await alice.textContent("#conn-note");
    assert(/Reconnected/.test(note), `alice's page does not say it reconnected: ${note}`);
    await alice.click("#raw summary");
    await shot(alice, "chat-alice-after-drain");
    await alice.click("#raw summary");
    await shot(bob, "chat-bob");
  });

  await scenario("bad token: 4500 stops reconnecting", async () => {
    const page = await openChat(browser, cfg.tokens.bad, "mallory");
    const s = await connect(page, "mallory");
    assert(s.state === "stopped" && s.closeCode === "4500", `state ${s.state}, close ${s.closeCode}: ${s.text}`);
    const note = await page.textContent("#conn-note");
    assert(/4500/.test(note) && /Not reconnecting/.test(note) && /token/.test(note), `the page does not say why: ${note}`);
    // No reconnect attempt follows: one welcome only, still stopped 1.5 s later.
    const start = Date.now();
    await waitFor("1.5 s without a reconnect", async () => {
      const welcomes = await page.$$eval("#raw-frames li[data-type=welcome]", e => e.length);
      const st = await status(page);
      if (welcomes !== 1 || st.state !== "stopped") throw new Error(`reconnected: ${welcomes} welcomes, state ${st.state}`);
      return Date.now() - start >= 1500;
    }, 5000);
    await shot(page, "chat-bad-token");
    await page.close();
  });

  await scenario("dashboard: refusal, numbers, charts", async () => {
    const node = cfg.nodes.find(n => n.id !== aliceNode) || cfg.nodes[0];
    const page = await browser.newPage();
    page.on("pageerror", err => log(`dashboard page error: ${err.message}`));
    await page.goto(`http://${node.admin}/ui`);
    assert(page.url().endsWith("/ui/"), `/ui went to ${page.url()}`);

    await page.fill("#admin-key", "not-the-key");
    await page.click("#key-submit");
    await page.waitForFunction(() => /Refused/.test(document.querySelector("#auth-status").textContent), null, {timeout: 10_000});
    assert(await page.$eval("#dash", d => d.hidden), "the dashboard shows data after a wrong key");
    await shot(page, "dashboard-refused");

    await page.fill("#admin-key", cfg.adminKey);
    await page.click("#key-submit");
    await page.waitForFunction(() => !document.querySelector("#dash").hidden, null, {timeout: 10_000});
    const leaks = await page.evaluate(key => ({
      url: location.href.includes(key), local: localStorage.length, session: sessionStorage.length,
      cookie: document.cookie, field: document.querySelector("#admin-key").value,
    }), cfg.adminKey);
    assert(!leaks.url && leaks.local === 0 && leaks.session === 0 && leaks.cookie === "" && leaks.field === "",
      `the key leaked: ${JSON.stringify(leaks)}`);

    // Its numbers equal GET /stats and /nodes (the cluster is quiet now).
    const fields = ["active_connections", "peak_connections", "unique_users", "rooms", "nodes"];
    await waitFor("the dashboard to match /stats and /nodes", async () => {
      const [stats, nodes] = await Promise.all([admin(node, "GET", "/stats"), admin(node, "GET", "/nodes")]);
      const shown = await page.evaluate(() => ({
        tiles: Object.fromEntries([...document.querySelectorAll("[data-stat]")].map(e => [e.dataset.stat, e.dataset.value])),
        nodes: [...document.querySelectorAll("#nodes tbody tr[data-node]")].map(r => [r.dataset.node, r.dataset.alive, r.dataset.connections]),
      }));
      for (const f of fields) if (shown.tiles[f] !== String(stats[f])) throw new Error(`${f}: shows ${shown.tiles[f]}, /stats ${stats[f]}`);
      const want = nodes.nodes.map(n => [n.id, String(n.alive), String(n.connections)]).sort();
      if (JSON.stringify(shown.nodes.sort()) !== JSON.stringify(want)) throw new Error(`nodes: shows ${JSON.stringify(shown.nodes)}, /nodes ${JSON.stringify(want)}`);
      return true;
    });
    log("dashboard numbers match /stats and /nodes");

    // Charts move while a publisher runs: a real client in the browser
    // sending messages (and now and then a frame the node refuses).
    const chart = id => page.$eval(id, c => ({points: Number(c.dataset.points), last: Number(c.dataset.last),
      d: [...c.querySelectorAll("path")].map(p => p.getAttribute("d")).join("|")}));
    const before = await chart("#chart-messages");
    const pub = await browser.newPage();
    await pub.goto(`${cfg.baseURL}/`); // same origin as /wsnode.js
    await pub.evaluate(async token => {
      const {Client} = await import("/wsnode.js");
      const c = new Client(`ws://${location.host}/ws`, {token});
      const room = c.room("load");
      await room.join();
      window.stopPub = false;
      window.sent = 0;
      (async () => {
        for (let i = 0; !window.stopPub; i++) {
          try {
            if (i % 5 === 4) await c.request({type: "message", room: "not-joined", data: i}); // not_member
            else await room.publish({n: i});
          } catch { /* refused on purpose */ }
          window.sent++;
          await new Promise(r => setTimeout(r, 25)); // well under the default 100 frames/s limit
        }
        c.close();
      })();
    }, cfg.tokens.bob);
    // The newest tab is in front; a tab behind gets few animation frames,
    // which slows Playwright's clicks and screenshots on it.
    await page.bringToFront();
    try {
      const after = await waitFor("the charts to move", async () => {
        const m = await chart("#chart-messages");
        const e = await chart("#chart-errors");
        return m.last > 0 && e.last > 0 && m.points > before.points && m.d !== before.d ? {m, e} : null;
      }, 20_000);
      log(`charts moved: messages ${after.m.last.toFixed(1)}/s, errors ${after.e.last.toFixed(1)}/s, ` +
        `${await pub.evaluate(() => window.sent)} frames sent`);

    // Look up a room and a user, publish to the room, disconnect alice.
    await page.fill("#room-name", HIST);
    await page.click("#room-form button");
    await page.waitForFunction(() => /alice/.test(document.querySelector("#room-result").textContent), null, {timeout: 10_000});
    await page.fill("#user-name", "alice");
    await page.click("#user-form button");
    await page.waitForSelector("#user-result tr[data-conn]", {timeout: 10_000});
    if (alice) {
      await page.fill("#publish-room", HIST);
      await page.fill("#publish-data", "hello from the dashboard");
      await page.click("#publish-form button");
      await waitTexts(alice, HIST, ["hello from the dashboard"], "alice");
      log("alice got the dashboard's publish");
      const conn = await alice.$eval("#conn-info", e => e.dataset.conn);
      const before = Number((await status(alice)).reconnects);
      const btn = `#user-result tr[data-conn="${conn}"] button`;
      await page.click(btn);          // arms
      await page.click(btn);          // confirms
      const s = await waitFor("alice to be disconnected (4006) and to reconnect", async () => {
        const st = await status(alice);
        return st.state === "connected" && Number(st.reconnects) > before ? st : null;
      }, 20_000);
      assert(s.closeCode === "4006", `alice saw close ${s.closeCode}, want 4006`);
      log(`alice disconnected from the dashboard (4006), back on ${s.node}`);
      await waitFor("the user lookup to show alice's new connection only", async () => {
        await page.click("#user-form button");
        await page.waitForFunction(() => document.querySelector("#user-result").textContent !== "…");
        const ids = await page.$$eval("#user-result tr[data-conn]", rows => rows.map(r => r.dataset.conn));
        return ids.length === 1 && ids[0] !== conn;
      });
      log("the user lookup shows alice's new connection");
    }
    // A few more readings with the publisher still running, so the
    // screenshot shows lines rather than dots.
    await waitFor("5 readings on the charts", async () => (await chart("#chart-messages")).points >= 5);
    await shot(page, "dashboard");
    } finally {
      await pub.evaluate(() => { window.stopPub = true; });
    }
  });

  result.ok = result.failures.length === 0;
} catch (err) {
  result.failures.push(`run: ${err.stack}`);
} finally {
  try { process.kill(cfg.haproxyPID, "SIGCONT"); } catch { /* gone */ }
  await browser.close().catch(() => {});
  fs.rmSync(cfg.profileDir, {recursive: true, force: true});
  log(`done: ${result.ok ? "all scenarios passed" : result.failures.length + " failed"}`);
  console.log("RESULT " + JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
