// The operator dashboard: polls this node's admin API every 2 s.
//
// The admin key lives in the variable `key` below and nowhere else: not in
// a URL, a cookie or any browser storage. Reloading forgets it.

import { Chart } from "/ui/chart.js";

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;

const $ = sel => document.querySelector(sel);
let key = null;        // the admin key, in memory only
let session = 0;       // bumped on every login/logout; stale polls drop their result
let timer = null;
let prev = null;       // previous counters {t, msgs, errs}
let msgChart, errChart;

class Refused extends Error {}
class APIError extends Error {
  constructor(status, doc, path) {
    const e = doc && doc.error;
    super(e ? `${status} ${e.code}: ${e.message}` : `HTTP ${status} from ${path}`);
    this.status = status;
    this.code = e && e.code;
  }
}

// api calls the admin API with the key as a bearer token.
async function api(method, path, body) {
  const headers = {Accept: "application/json"};
  if (key) headers.Authorization = "Bearer " + key;
  const init = {method, headers, cache: "no-store", credentials: "omit", redirect: "error"};
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let doc = null;
  try { doc = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401) throw new Refused((doc && doc.error && doc.error.message) || "unauthorized");
  if (!res.ok) throw new APIError(res.status, doc, path);
  return doc;
}

const enc = encodeURIComponent;

function setStatus(el, text, kind = "") {
  el.textContent = text;
  el.className = "status" + (kind ? " " + kind : "");
}

function fmtNum(v) {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function fmtTime(iso) {
  const d = new Date(iso);
  if (isNaN(d) || d.getFullYear() < 2000) return "–";
  return d.toLocaleTimeString([], {hour12: false});
}

function ago(iso) {
  const d = new Date(iso);
  if (isNaN(d) || d.getFullYear() < 2000) return "never";
  const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
  if (s < 60) return `${s.toFixed(1)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function td(text, cls) {
  const c = document.createElement("td");
  c.textContent = text;
  if (cls) c.className = cls;
  return c;
}

function tr(...cells) {
  const r = document.createElement("tr");
  r.append(...cells);
  return r;
}

// ---------------------------------------------------------------- login

async function login(ev) {
  ev.preventDefault();
  const input = $("#admin-key");
  const typed = input.value.trim();
  input.value = ""; // the field does not keep it either
  stop();
  key = typed || null;
  const my = ++session;
  setStatus($("#auth-status"), "Checking the key…");
  try {
    await api("GET", "/stats");
  } catch (err) {
    if (my !== session) return;
    key = null;
    if (err instanceof Refused) {
      setStatus($("#auth-status"), "Refused: this node answered 401 Unauthorized. The admin key is wrong or missing; " +
        "type the key the nodes run with (--admin-key / WS_ADMIN_KEY).", "bad");
    } else {
      setStatus($("#auth-status"), "Could not reach the admin API: " + err.message, "bad");
    }
    $("#dash").hidden = true;
    input.focus();
    return;
  }
  if (my !== session) return;
  setStatus($("#auth-status"), key ? "Key accepted. The dashboard updates every 2 s." :
    "This node's admin API has no key (loopback only); the dashboard updates every 2 s.", "good");
  $("#key-forget").hidden = false;
  $("#dash").hidden = false;
  document.body.classList.add("live");
  prev = null;
  msgChart = new Chart($("#chart-messages"), {windowMs: WINDOW_MS});
  errChart = new Chart($("#chart-errors"), {windowMs: WINDOW_MS});
  poll(my);
}

function stop() {
  session++;
  clearTimeout(timer);
  timer = null;
}

function logout(reason, kind = "") {
  stop();
  key = null;
  $("#dash").hidden = true;
  $("#key-forget").hidden = true;
  document.body.classList.remove("live");
  setStatus($("#auth-status"), reason, kind);
}

// ---------------------------------------------------------------- polling

async function poll(my) {
  const started = Date.now();
  try {
    const [stats, nodes, rooms] = await Promise.all([api("GET", "/stats"), api("GET", "/nodes"), api("GET", "/rooms")]);
    if (my !== session) return;
    const t = Date.now();
    renderStats(stats);
    renderNodes(nodes);
    renderRooms(rooms);
    renderRates(t, stats);
    setStatus($("#poll-status"), `Updated ${new Date(t).toLocaleTimeString([], {hour12: false})} · every 2 s · answered by node ${stats.node_id}`, "good");
  } catch (err) {
    if (my !== session) return;
    if (err instanceof Refused) {
      logout("Refused: the admin API stopped accepting the key (401: " + err.message + "). Type the current key.", "bad");
      return;
    }
    setStatus($("#poll-status"), `Last update failed (${err.message}); retrying every 2 s.`, "bad");
  }
  if (my !== session) return;
  timer = setTimeout(() => poll(my), Math.max(0, POLL_MS - (Date.now() - started)));
}

function renderStats(s) {
  for (const el of document.querySelectorAll("[data-stat]")) {
    const v = s[el.dataset.stat];
    el.textContent = fmtNum(v);
    el.dataset.value = typeof v === "number" ? String(v) : "";
  }
}

function renderNodes(doc) {
  const list = (doc.nodes || []).slice().sort((a, b) => a.id.localeCompare(b.id));
  const rows = list.map(n => {
    const r = tr(td(n.id), td(n.alive ? "alive" : "dead (heartbeat expired)", n.alive ? "good" : "bad"),
      td(String(n.connections)), td(fmtNum(n.messages_per_sec)), td(ago(n.last_seen)),
      td(fmtTime(n.started_at)), td(n.version || "–"));
    r.dataset.node = n.id;
    r.dataset.alive = String(n.alive);
    r.dataset.connections = String(n.connections);
    r.cells[4].title = n.last_seen;
    return r;
  });
  if (!rows.length) rows.push(tr(td("no node has registered")));
  $("#nodes tbody").replaceChildren(...rows);
  const alive = list.filter(n => n.alive).length;
  $("#nodes").dataset.alive = String(alive);
  $("#nodes").dataset.count = String(list.length);
}

function renderRooms(doc) {
  const list = (doc.rooms || []).slice().sort((a, b) => b.connections - a.connections || a.name.localeCompare(b.name));
  const rows = list.slice(0, 50).map(r => {
    const a = document.createElement("a");
    a.href = "#";
    a.textContent = r.name;
    a.addEventListener("click", ev => { ev.preventDefault(); $("#room-name").value = r.name; lookupRoom(); });
    const c = td("");
    c.append(a);
    const row = tr(c, td(String(r.connections)));
    row.dataset.room = r.name;
    return row;
  });
  if (!rows.length) rows.push(tr(td("no rooms with members"), td("")));
  if (list.length > 50) rows.push(tr(td(`… and ${list.length - 50} more (look them up by name)`), td("")));
  $("#rooms tbody").replaceChildren(...rows);
}

// renderRates turns the growth of the counters since the last reading
// into per-second rates for the charts.
function renderRates(t, s) {
  const cur = {t, msgs: s.messages_by_type || {}, errs: s.errors_by_kind || {}};
  if (prev && t > prev.t) {
    const dt = (t - prev.t) / 1000;
    const rates = (a, b) => {
      const out = {};
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        out[k] = Math.max(0, (a[k] || 0) - (b[k] || 0)) / dt; // a reset counts as 0
      }
      return out;
    };
    msgChart.push(t, rates(cur.msgs, prev.msgs));
    errChart.push(t, rates(cur.errs, prev.errs));
  }
  prev = cur;
}

// ---------------------------------------------------------------- lookups

function disconnectButton(id, after) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "danger";
  b.textContent = "Disconnect";
  b.title = "Close this connection with code 4006; the client may reconnect.";
  b.dataset.conn = id;
  let armed = false;
  b.addEventListener("click", async () => {
    if (!armed) { // a second click confirms
      armed = true;
      b.textContent = "Click again to disconnect";
      setTimeout(() => { armed = false; b.textContent = "Disconnect"; }, 4000);
      return;
    }
    b.disabled = true;
    try {
      await api("DELETE", `/connections/${enc(id)}?reason=${enc("disconnected from the dashboard")}`);
      b.textContent = "Disconnected";
      setTimeout(after, 500);
    } catch (err) {
      b.textContent = "Failed: " + err.message;
      if (err instanceof Refused) logout("Refused: 401 " + err.message, "bad");
    }
  });
  return b;
}

function lookupError(box, err, what) {
  if (err instanceof Refused) { logout("Refused: 401 " + err.message, "bad"); return; }
  const p = document.createElement("p");
  p.className = "status bad";
  p.textContent = err.status === 404 ? `No ${what}: nobody is connected under that name right now.` : err.message;
  box.replaceChildren(p);
}

async function lookupRoom(ev) {
  if (ev) ev.preventDefault();
  const name = $("#room-name").value.trim();
  const box = $("#room-result");
  if (!name) return;
  box.textContent = "…";
  try {
    const r = await api("GET", `/rooms/${enc(name)}`);
    const head = document.createElement("p");
    head.textContent = `${r.name}: ${r.connections} connection(s) of ${r.users.length} user(s); created ${fmtTime(r.created_at)}, last activity ${ago(r.last_activity)}.`;
    const users = document.createElement("p");
    users.textContent = "Users: " + (r.users.join(", ") || "–");
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th>connection</th><th></th></tr></thead>";
    const body = document.createElement("tbody");
    for (const id of r.conn_ids) {
      const c = td("");
      c.append(disconnectButton(id, lookupRoom));
      const row = tr(td(id, "mono"), c);
      row.dataset.conn = id;
      body.append(row);
    }
    table.append(body);
    box.replaceChildren(head, users, table);
    box.dataset.room = r.name;
  } catch (err) {
    lookupError(box, err, "room");
  }
}

async function lookupUser(ev) {
  if (ev) ev.preventDefault();
  const name = $("#user-name").value.trim();
  const box = $("#user-result");
  if (!name) return;
  box.textContent = "…";
  try {
    const u = await api("GET", `/users/${enc(name)}`);
    const head = document.createElement("p");
    head.textContent = `${u.name}: ${u.conns.length} connection(s).`;
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th>connection</th><th>node</th><th>type</th><th>state</th><th>connected</th><th>in / out</th><th>rooms</th><th></th></tr></thead>";
    const body = document.createElement("tbody");
    for (const c of u.conns) {
      const cell = td("");
      cell.append(disconnectButton(c.id, lookupUser));
      const row = tr(td(c.id, "mono"), td(c.node_id), td(c.type), td(c.state), td(fmtTime(c.connected_at)),
        td(`${c.messages_in} / ${c.messages_out}`), td((c.rooms || []).join(", ") || "–"), cell);
      row.dataset.conn = c.id;
      row.dataset.node = c.node_id;
      body.append(row);
    }
    table.append(body);
    box.replaceChildren(head, table);
    box.dataset.user = u.name;
  } catch (err) {
    lookupError(box, err, "user");
  }
}

async function publish(ev) {
  ev.preventDefault();
  const room = $("#publish-room").value.trim();
  const text = $("#publish-data").value;
  const st = $("#publish-status");
  if (!room) { setStatus(st, "Name a room first.", "bad"); return; }
  let data;
  try { data = JSON.parse(text); } catch { data = {text}; }
  try {
    await api("POST", "/publish", {room, data});
    setStatus(st, `Published to ${room} at ${new Date().toLocaleTimeString([], {hour12: false})}.`, "good");
  } catch (err) {
    if (err instanceof Refused) { logout("Refused: 401 " + err.message, "bad"); return; }
    setStatus(st, "Not published: " + err.message, "bad");
  }
}

$("#key-form").addEventListener("submit", login);
$("#key-forget").addEventListener("click", () => logout("Key forgotten. Type it again to reopen the dashboard."));
$("#room-form").addEventListener("submit", lookupRoom);
$("#user-form").addEventListener("submit", lookupUser);
$("#publish-form").addEventListener("submit", publish);
