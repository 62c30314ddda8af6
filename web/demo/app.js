// The demo chat, built on the JS client (/wsnode.js). Plain DOM, no framework.

import { Client } from "/wsnode.js";

const $ = sel => document.querySelector(sel);
const RAW_KEEP = 300;

// What each close code means to a user (docs/protocol.md, "Close codes").
const CLOSE_MEANING = {
  1000: "closed normally",
  1001: "the node is shutting down (draining)",
  1006: "the connection dropped without a close frame (node unreachable or crashed)",
  1007: "the client sent invalid UTF-8",
  1008: "too many rejected frames in a row",
  1009: "a frame was too large",
  4000: "inactive for too long",
  4001: "too slow to read its messages (slow consumer)",
  4002: "rate limit exceeded repeatedly",
  4003: "the node could not register the connection (Redis unavailable)",
  4004: "ping timeout",
  4005: "the token expired",
  4006: "disconnected by an operator",
  4007: "too many connections for this user",
  4500: "authentication failed: the node refused the token",
  4501: "no authentication in time",
};

function meaning(code) {
  if (code in CLOSE_MEANING) return CLOSE_MEANING[code];
  if (code >= 4000 && code < 4500) return "a temporary refusal";
  if (code >= 4500 && code < 5000) return "a permanent refusal";
  return "closed";
}

// ---------------------------------------------------------------- state

let client = null;
let connects = 0;      // "connected" events of the current client
let reconnects = 0;
let active = null;     // the room shown
let presenceSeen = false;
const attached = new Set(); // rooms whose handlers the current client has (client.room adds them on every call)
const rooms = new Map(); // name -> {pane, list, item, members: Map(user -> info), seen: Set(msg_id), dups, unread}

const params = new URLSearchParams(location.search);
if (params.has("token")) {
  $("#token").value = params.get("token");
  // Keep the token out of the address bar and the history from now on.
  params.delete("token");
  const q = params.toString();
  history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
}

function wsURL() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
}

function clock(ts) {
  const d = ts ? new Date(ts) : new Date();
  return d.toLocaleTimeString([], {hour12: false});
}

function textOf(data) {
  if (data && typeof data === "object" && typeof data.text === "string") return data.text;
  if (typeof data === "string") return data;
  return JSON.stringify(data);
}

function senderOf(from) {
  if (!from) return {name: "?", own: false};
  if (from.system) return {name: "system", own: false, system: true};
  const own = client && from.conn_id && from.conn_id === client.connId;
  const name = from.user || (from.conn_id ? "guest " + from.conn_id.slice(0, 6) : "guest");
  return {name, own, sameUser: !own && client && from.user && from.user === client.user};
}

function event(text, kind = "") {
  const li = document.createElement("li");
  li.className = kind;
  const t = document.createElement("time");
  t.textContent = clock();
  li.append(t, " ", text);
  const ol = $("#events");
  ol.prepend(li);
  while (ol.children.length > 100) ol.lastChild.remove();
}

function setStatus(state, text) {
  const s = $("#status");
  s.dataset.state = state;
  s.textContent = text;
}

function note(text, kind = "") {
  const n = $("#conn-note");
  n.textContent = text;
  n.className = "note" + (kind ? " " + kind : "");
}

function connInfo() {
  const info = $("#conn-info");
  if (!client || client.state !== "connected") return;
  info.textContent = `Signed in as ${client.user || "guest"} (${client.connType || "?"}) on node ${client.nodeId}, ` +
    `connection ${client.connId}. Reconnects so far: ${reconnects}.`;
  info.dataset.node = client.nodeId || "";
  info.dataset.conn = client.connId || "";
  info.dataset.user = client.user || "";
  info.dataset.reconnects = String(reconnects);
}

function setEnabled(on) {
  for (const sel of ["#join", "#msg-input", "#send", "#dm-send"]) $(sel).disabled = !on;
  $("#disconnect").disabled = !client || client.state === "stopped";
  if (active === null) { $("#msg-input").disabled = true; $("#send").disabled = true; }
}

// ---------------------------------------------------------------- raw frames

function raw(dir, frame) {
  const li = document.createElement("li");
  const type = frame && frame.type;
  li.dataset.dir = dir;
  li.dataset.type = type || "";
  li.className = dir;
  if ((type === "ping" || type === "pong") && $("#raw-hide-ping").checked) li.hidden = true;
  li.textContent = `${clock()} ${dir === "in" ? "←" : "→"} ${JSON.stringify(frame)}`;
  const ol = $("#raw-frames");
  ol.append(li);
  while (ol.children.length > RAW_KEEP) ol.firstChild.remove();
  if ($("#raw").open && !li.hidden) li.scrollIntoView({block: "nearest"});
}

$("#raw-hide-ping").addEventListener("change", ev => {
  for (const li of document.querySelectorAll("#raw-frames li")) {
    li.hidden = ev.target.checked && (li.dataset.type === "ping" || li.dataset.type === "pong");
  }
});
$("#raw-clear").addEventListener("click", () => $("#raw-frames").replaceChildren());

// ---------------------------------------------------------------- connection

function connect(ev) {
  ev.preventDefault();
  if (client) client.close();
  const token = $("#token").value.trim();
  connects = 0;
  reconnects = 0;
  attached.clear();
  const c = new Client(wsURL(), {token: token ? () => token : undefined, autoConnect: false});
  client = c;
  c.on("frame", ({dir, frame}) => { if (c === client) raw(dir, frame); });
  c.on("state", s => {
    if (c !== client) return;
    if (s.state === "connecting") {
      setStatus("connecting", connects ? "reconnecting…" : "connecting…");
    }
    setEnabled(s.state === "connected");
  });
  c.on("connected", info => {
    if (c !== client) return;
    connects++;
    if (connects > 1) reconnects++;
    setStatus("connected", `connected · node ${info.nodeId}`);
    note(reconnects ? `Reconnected (reconnect #${reconnects}) to node ${info.nodeId}; your rooms are being rejoined.` : "", "good");
    event(connects > 1 ? `reconnected to node ${info.nodeId} as ${info.user || "guest"}` :
      `connected to node ${info.nodeId} as ${info.user || "guest"}`, "good");
    connInfo();
    setEnabled(true);
    $("#status").dataset.node = info.nodeId || "";
    $("#status").dataset.reconnects = String(reconnects);
  });
  c.on("disconnected", d => {
    if (c !== client) return;
    const why = `closed ${d.code}${d.reason ? ` "${d.reason}"` : ""}: ${meaning(d.code)}`;
    $("#status").dataset.closeCode = String(d.code);
    if (d.willReconnect) {
      const when = d.delayMs > 0 ? `in ${(d.delayMs / 1000).toFixed(1)} s` : "now";
      setStatus("reconnecting", `disconnected · reconnecting ${when}`);
      note(`Connection ${why}. Reconnecting ${when} through the load balancer…`, "warn");
      event(`${why}; reconnecting ${when}`, "warn");
    } else {
      setStatus("disconnected", "disconnected"); // "stopped" follows and says why
    }
    setEnabled(false);
  });
  c.on("stopped", d => {
    if (c !== client) return;
    $("#status").dataset.closeCode = String(d.code ?? "");
    const code = d.code;
    if (code === 1000 || code === undefined || code === null) {
      setStatus("stopped", "disconnected");
      note("Disconnected. Press Connect to connect again.");
      event("disconnected by you");
    } else {
      const why = `closed ${code}${d.reason ? ` "${d.reason}"` : ""}: ${meaning(code)}`;
      setStatus("stopped", `stopped · ${code}`);
      const fix = code >= 4500 && code <= 4501 ? " Get a valid token (or check the node's secret) and press Connect again." :
        " The page sent something the node refuses; reload it.";
      note(`Stopped: ${why}. Not reconnecting, because retrying cannot help.${fix}`, "bad");
      event(`${why}; not reconnecting`, "bad");
    }
    setEnabled(false);
    $("#disconnect").disabled = true;
  });
  c.on("direct", f => { if (c === client) addDirect(f, false); });
  c.on("broadcast", f => {
    if (c !== client) return;
    event(`broadcast from ${senderOf(f.from).name}: ${textOf(f.data)}`);
  });
  c.on("error", f => {
    if (c !== client) return;
    event(`error ${f.code}: ${f.message}`, "warn");
  });
  setStatus("connecting", "connecting…");
  note("");
  $("#conn-info").textContent = "";
  $("#disconnect").disabled = false;
  // Rooms already on the page are wanted again on the new connection.
  for (const name of rooms.keys()) subscribe(name).catch(err => roomNotice(name, `could not rejoin: ${err.message}`, "bad"));
  c.connect();
}

$("#connect-form").addEventListener("submit", connect);
$("#disconnect").addEventListener("click", () => { if (client) client.close(); });

// ---------------------------------------------------------------- rooms

function roomState(name) {
  let r = rooms.get(name);
  if (r) return r;
  const pane = document.createElement("section");
  pane.className = "pane";
  pane.dataset.room = name;
  pane.hidden = true;
  const list = document.createElement("ol");
  list.className = "msgs";
  pane.append(list);
  $("#panes").append(pane);

  const item = document.createElement("li");
  item.dataset.room = name;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "room-open";
  open.textContent = "#" + name;
  open.addEventListener("click", () => show(name));
  const badge = document.createElement("span");
  badge.className = "unread";
  const leave = document.createElement("button");
  leave.type = "button";
  leave.className = "room-leave";
  leave.textContent = "Leave";
  leave.title = "Leave " + name;
  leave.addEventListener("click", () => leaveRoom(name));
  item.append(open, badge, leave);
  $("#room-list").append(item);

  r = {name, pane, list, item, badge, members: new Map(), seen: new Set(), dups: 0, unread: 0, count: 0};
  rooms.set(name, r);
  return r;
}

function show(name) {
  active = name;
  for (const r of rooms.values()) {
    r.pane.hidden = r.name !== name;
    r.item.classList.toggle("active", r.name === name);
    if (r.name === name) { r.unread = 0; r.badge.textContent = ""; }
  }
  $("#no-room").hidden = name !== null;
  $("#chat-title").textContent = name === null ? "No room selected" : "#" + name;
  $("#msg-input").placeholder = name === null ? "message to the room" : `message to #${name}`;
  setEnabled(client && client.state === "connected");
  renderMembers();
  const r = rooms.get(name);
  if (r) r.list.lastElementChild?.scrollIntoView({block: "nearest"});
}

function roomNotice(name, text, kind = "") {
  const r = rooms.get(name);
  if (!r) return;
  const li = document.createElement("li");
  li.className = "notice " + kind;
  const t = document.createElement("time");
  t.textContent = clock();
  li.append(t, " ", text);
  r.list.append(li);
  li.scrollIntoView({block: "nearest"});
}

function subscribe(name) {
  if (attached.has(name)) return client.room(name).join();
  attached.add(name);
  const room = client.room(name, {
    onMessage: f => onRoomMessage(name, f),
    onJoined: f => onJoined(name, f),
    onMissed: info => roomNotice(name, `some messages may be missing here (${info.reason.replaceAll("_", " ")})`, "warn"),
    onPresence: f => onPresence(name, f),
    onError: err => roomNotice(name, `the node refused to rejoin this room (${err.code || "error"}: ${err.message}); ` +
      "the client keeps asking after every reconnect", "bad"),
  });
  return room.join();
}

async function joinRoom(ev) {
  ev.preventDefault();
  const name = $("#room-input").value.trim();
  if (!name || !client) return;
  if (rooms.has(name)) { show(name); return; }
  roomState(name);
  show(name);
  roomNotice(name, `joining #${name}…`);
  try {
    await subscribe(name);
  } catch (err) {
    roomNotice(name, `could not join: ${err.code ? err.code + ": " : ""}${err.message}`, "bad");
  }
}

async function leaveRoom(name) {
  const r = rooms.get(name);
  if (!r) return;
  try {
    if (client && client.state !== "stopped") await client.room(name).leave();
  } catch (err) {
    event(`leaving #${name}: ${err.message}`, "warn");
  }
  r.pane.remove();
  r.item.remove();
  rooms.delete(name);
  event(`left #${name}`);
  if (active === name) show(rooms.size ? rooms.keys().next().value : null);
}

$("#join-form").addEventListener("submit", joinRoom);

function onJoined(name, f) {
  const r = rooms.get(name);
  if (!r) return;
  r.pane.dataset.joined = "true";
  let text = `joined #${name}`;
  const hist = f.epoch !== undefined || f.offset !== undefined;
  if (hist) text += " (a room with history";
  if (f.recovered === true) text += `${hist ? ";" : " ("} rejoined from your last message, nothing lost)`;
  else if (f.recovered === false) text += `${hist ? ";" : " ("} could not recover what was missed)`;
  else if (hist) text += ")";
  roomNotice(name, text, f.recovered === false ? "warn" : "");
  if (client && client.user) seeMember(name, client.user, "you");
}

function onRoomMessage(name, f) {
  const r = rooms.get(name);
  if (!r) return;
  if (f.msg_id) {
    // The client already drops replays it has (by offset); a second copy by
    // msg_id is counted and hidden, never shown twice.
    if (r.seen.has(f.msg_id)) {
      r.dups++;
      r.pane.dataset.dups = String(r.dups);
      return;
    }
    r.seen.add(f.msg_id);
  }
  const who = senderOf(f.from);
  const li = document.createElement("li");
  li.className = "msg" + (who.own ? " own" : "") + (who.system ? " system" : "");
  li.dataset.room = name;
  if (f.msg_id) li.dataset.msgId = f.msg_id;
  if (f.offset !== undefined) li.dataset.offset = String(f.offset);
  li.dataset.from = who.name;
  const t = document.createElement("time");
  t.textContent = clock(f.ts);
  if (f.ts) t.dateTime = new Date(f.ts).toISOString();
  const s = document.createElement("span");
  s.className = "sender";
  s.textContent = who.own ? `${who.name} (you)` : who.name;
  const b = document.createElement("span");
  b.className = "text";
  b.textContent = textOf(f.data);
  li.append(t, s, b);
  r.list.append(li);
  r.count++;
  r.pane.dataset.count = String(r.count);
  if (name === active) li.scrollIntoView({block: "nearest"});
  else { r.unread++; r.badge.textContent = String(r.unread); }
  if (!who.system && f.from && f.from.user) seeMember(name, f.from.user, "sent a message");
}

async function sendMessage(ev) {
  ev.preventDefault();
  const input = $("#msg-input");
  const text = input.value;
  if (!text || active === null || !client) return;
  input.value = "";
  try {
    await client.room(active).publish({text});
  } catch (err) {
    roomNotice(active, `not sent (${err.code || "error"}: ${err.message}): ${text}`, "bad");
  }
}

$("#send-form").addEventListener("submit", sendMessage);

// ---------------------------------------------------------------- members

function seeMember(room, user, how, online = true) {
  const r = rooms.get(room);
  if (!r || !user) return;
  if (client && user === client.user) how = "you";
  r.members.set(user, {how, online, at: Date.now()});
  if (room === active) renderMembers();
}

// onPresence takes the shapes a presence frame may have: a full list
// ("members" or "users"), or one change ("event"/"action" join|leave with
// "user" or "from.user", or "joined"/"left" lists).
function onPresence(room, f) {
  const r = rooms.get(room);
  if (!r) return;
  if (!presenceSeen) {
    presenceSeen = true;
    $("#members-note").textContent = "Live: the node sends presence frames for this room, so joins and leaves show " +
      "as they happen (plus senders of messages). Click a name to write to that user directly.";
  }
  const userOf = x => typeof x === "string" ? x : x && (x.user || (x.from && x.from.user));
  const list = f.members || f.users;
  if (Array.isArray(list)) {
    for (const [u, m] of r.members) if (m.how !== "you") r.members.set(u, {...m, online: false});
    for (const x of list) if (userOf(x)) r.members.set(userOf(x), {how: "present", online: true, at: Date.now()});
  }
  const ev = String(f.event || f.action || f.kind || "").toLowerCase();
  const u = userOf(f);
  if (u && /join|online|enter|arriv/.test(ev)) seeMember(room, u, "joined", true);
  if (u && /leave|left|offline|exit|depart/.test(ev)) seeMember(room, u, "left", false);
  for (const x of f.joined || []) seeMember(room, userOf(x), "joined", true);
  for (const x of f.left || []) seeMember(room, userOf(x), "left", false);
  if (u && ev) roomNotice(room, `${u} ${/leave|left|offline|exit|depart/.test(ev) ? "left" : "joined"}`);
  if (room === active) renderMembers();
}

function renderMembers() {
  const ul = $("#members");
  const r = rooms.get(active);
  if (!r) { ul.replaceChildren(); return; }
  const items = [...r.members.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([user, m]) => {
    const li = document.createElement("li");
    li.dataset.user = user;
    li.className = m.online ? "online" : "offline";
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = user;
    b.title = `write to ${user} directly`;
    b.addEventListener("click", () => { $("#dm-to").value = user; $("#dm-text").focus(); });
    const how = document.createElement("small");
    how.textContent = m.how === "you" ? " (you)" : ` (${m.how}, ${clock(m.at)})`;
    li.append(b, how);
    return li;
  });
  ul.replaceChildren(...items);
}

// ---------------------------------------------------------------- direct messages

function addDirect(f, outgoing, to) {
  const li = document.createElement("li");
  li.className = "msg dm" + (outgoing ? " own" : "");
  const t = document.createElement("time");
  t.textContent = clock(f.ts);
  const s = document.createElement("span");
  s.className = "sender";
  s.textContent = outgoing ? `you → ${to}` : `${senderOf(f.from).name} → you`;
  const b = document.createElement("span");
  b.className = "text";
  b.textContent = textOf(f.data);
  li.append(t, s, b);
  li.dataset.from = outgoing ? (client && client.user) || "" : senderOf(f.from).name;
  $("#dms").append(li);
  li.scrollIntoView({block: "nearest"});
}

async function sendDirect(ev) {
  ev.preventDefault();
  const to = $("#dm-to").value.trim();
  const text = $("#dm-text").value;
  if (!to || !text || !client) return;
  $("#dm-text").value = "";
  try {
    const ack = await client.direct({toUser: to}, {text});
    addDirect({data: {text}, ts: Date.now(), msg_id: ack && ack.msg_id}, true, to);
  } catch (err) {
    const li = document.createElement("li");
    li.className = "notice bad";
    li.textContent = err.code === "offline" ? `${to} is offline (no connection anywhere in the cluster): not delivered: ${text}` :
      `not delivered to ${to} (${err.code || "error"}: ${err.message}): ${text}`;
    $("#dms").append(li);
  }
}

$("#dm-form").addEventListener("submit", sendDirect);
setEnabled(false);
