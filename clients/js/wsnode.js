// wsnode.js: the JavaScript client of the wsnode WebSocket node (wire protocol v1).
//
// One ES module with no dependencies, for browsers and Node >= 20. It keeps one
// socket open: it authenticates, reconnects by the node's close-code policy with
// full-jitter exponential backoff, rejoins the rooms the application wants (with
// their last history position, so a history room recovers what the socket
// missed), matches request promises to replies by id/ref, answers the node's
// application ping and notices a dead socket by its silence.
//
// Nothing the node sends can throw out of the client: a frame that is not JSON,
// not an object or of an unknown type is only reported on the "frame" event.

export const VERSION = "0.1.0";

/** Default options; see README.md for what each one means. */
export const DEFAULTS = Object.freeze({
  backoff: Object.freeze({ base: 250, max: 10_000, factor: 2 }),
  requestTimeout: 10_000,
  pingMargin: 5_000,
  connectTimeout: 10_000,
  stableAfter: 1_000,
  autoConnect: true,
});

/** The error every promise of the client rejects with. */
export class ClientError extends Error {
  /**
   * @param {string} code  the node's error code, or one of the client's own:
   *   "timeout", "disconnected", "closed", "stopped", "left", "token_failed"
   * @param {string} message
   * @param {object|null} frame  the error frame, or the request that failed
   */
  constructor(code, message, frame = null) {
    super(message || code);
    this.name = "ClientError";
    this.code = code;
    this.frame = frame;
  }
}

/**
 * The delay before reconnect attempt number `attempt` (0 for the first):
 * full jitter, a uniform random value in [0, min(max, base * factor^attempt)).
 * Full jitter spreads clients that lost their node together over the whole
 * window, so they do not come back in one wave.
 */
export function backoffDelay(attempt, backoff = DEFAULTS.backoff, random = Math.random) {
  const ceiling = Math.min(backoff.max, backoff.base * Math.pow(backoff.factor, attempt));
  const r = Math.min(Math.max(Number(random()) || 0, 0), 1);
  return Math.floor(r * ceiling);
}

/**
 * What to do after the node closed the socket with `code`:
 *   "now"         reconnect at once (1001: the node is draining; another one takes us)
 *   "stop"        do not reconnect (1007, 1008, 1009, 4500-4999: only a fix of the
 *                 client or of its token helps, retrying would be refused again)
 *   "fresh_token" reconnect with backoff, asking the token provider again (4005)
 *   "backoff"     reconnect with backoff (1006, 4000-4499 and everything else)
 */
export function closeAction(code) {
  if (code === 1001) return "now";
  if (code === 1007 || code === 1008 || code === 1009) return "stop";
  if (code >= 4500 && code <= 4999) return "stop";
  if (code === 4005) return "fresh_token";
  return "backoff";
}

// How long a socket may stay unclosed after an error event before the client
// gives up on it (see Client.#attach).
const ERROR_GRACE_MS = 500;

// Internal hooks between Client and Room, kept off the public surface.
const ROOM_FRAME = Symbol("roomFrame");
const ROOM_REJOIN = Symbol("roomRejoin");
const ROOM_DISCONNECTED = Symbol("roomDisconnected");
const ROOM_STOPPED = Symbol("roomStopped");
const ROOM_WANTED = Symbol("roomWanted");

/** Default report of a listener's exception: like EventTarget, an uncaught error in its own task. */
function rethrowLater(err) {
  queueMicrotask(() => {
    throw err;
  });
}

/** A minimal event emitter; a throwing listener never disturbs the client. */
class Emitter {
  #listeners = new Map();
  #report;

  constructor(report = rethrowLater) {
    this.#report = report;
  }

  /** Adds fn for event and returns a function that removes it. */
  on(event, fn) {
    if (typeof fn !== "function") throw new TypeError("listener must be a function");
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    this.#listeners.get(event)?.delete(fn);
  }

  /** Adds fn for the next event only. */
  once(event, fn) {
    const off = this.on(event, (payload) => {
      off();
      fn(payload);
    });
    return off;
  }

  emit(event, payload) {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (err) {
        // The listener's bug is reported, but the client carries on: its
        // state must not depend on what application code does.
        this.#report(err, event);
      }
    }
  }
}

/** Options with defaults filled in and checked, so bad ones fail at construction. */
function normalizeOptions(options) {
  const o = { ...DEFAULTS, ...options };
  o.backoff = { ...DEFAULTS.backoff, ...(options.backoff || {}) };
  for (const [name, v] of [
    ["backoff.base", o.backoff.base],
    ["backoff.max", o.backoff.max],
    ["backoff.factor", o.backoff.factor],
    ["requestTimeout", o.requestTimeout],
    ["pingMargin", o.pingMargin],
    ["connectTimeout", o.connectTimeout],
    ["stableAfter", o.stableAfter],
  ]) {
    if (typeof v !== "number" || !(v >= 0) || v === Infinity) {
      throw new TypeError(`wsnode: option ${name} must be a finite number >= 0, got ${v}`);
    }
  }
  if (o.backoff.factor < 1) throw new TypeError("wsnode: option backoff.factor must be >= 1");
  // Timers are called detached: a browser's setTimeout throws "Illegal
  // invocation" when called as a method of some other object.
  const t = options.timers || {};
  o.setTimeout = t.setTimeout || ((fn, ms) => globalThis.setTimeout(fn, ms));
  o.clearTimeout = t.clearTimeout || ((id) => globalThis.clearTimeout(id));
  o.random = options.random || Math.random;
  o.WebSocket = options.WebSocket || globalThis.WebSocket;
  o.onListenerError = typeof options.onListenerError === "function" ? options.onListenerError : rethrowLater;
  return o;
}

/** Parses one inbound WebSocket message; returns {frame} or {error}. */
function parseFrame(data) {
  if (typeof data !== "string") return { error: "binary frame" };
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return { error: "not JSON" };
  }
  if (frame === null || typeof frame !== "object" || Array.isArray(frame)) {
    return { error: "not a JSON object" };
  }
  if (typeof frame.type !== "string") return { error: "no type" };
  return { frame };
}

/** A copy of frame fit for the "frame" event: the token is not shown. */
function redact(frame) {
  return frame.type === "auth" ? { ...frame, token: "…" } : frame;
}

/**
 * A client connection to a wsnode node (or a load balancer in front of several).
 * It reconnects by itself until close() is called or the node closes with a code
 * that asks it not to.
 */
export class Client extends Emitter {
  /** "connecting" | "connected" | "disconnected" | "stopped" */
  state = "disconnected";
  connId = null;
  nodeId = null;
  user = null;
  connType = null;
  /** ping_interval_ms from the welcome frame (null before the first). */
  pingIntervalMs = null;
  /** The guest policy from the welcome frame: "off", "read" or "write". */
  guests = null;

  #url;
  #opts;
  #ws = null;
  #gen = 0; // counts sockets; callbacks of an older one are ignored
  #attempt = 0; // reconnect attempts since the last stable connection
  #closedByUser = false;
  #autoConnect = false; // the constructor's connect() is still to come
  #welcomed = false;
  #authId = null; // id of this socket's auth frame, or null (guest)
  #authenticated = false;
  #connected = false; // welcome (and authenticated) seen on this socket
  #nextId = 1;
  #pending = new Map(); // String(id) -> request entry
  #queue = []; // entries waiting for the socket, in call order
  #rooms = new Map(); // name -> Room
  #roomSeq = 0; // first-join order of rooms
  #timers = { reconnect: null, dead: null, connect: null, stable: null, errorGrace: null };

  /**
   * @param {string} url   ws:// or wss:// URL of the node's /ws endpoint
   * @param {object} [options]  see README.md
   */
  constructor(url, options = {}) {
    const opts = normalizeOptions(options);
    super(opts.onListenerError);
    this.#url = url;
    this.#opts = opts;
    if (opts.autoConnect) {
      // Deferred to a microtask, so listeners added right after the
      // constructor see the first "connecting" state event.
      this.#autoConnect = true;
      queueMicrotask(() => {
        if (this.#autoConnect) this.connect();
      });
    }
  }

  get url() {
    return this.#url;
  }

  /**
   * Opens the socket unless it is open or opening. In "disconnected" (waiting to
   * reconnect) it reconnects at once; after "stopped" (close() or a close code
   * that stops) it starts again, keeping the wanted rooms.
   */
  connect() {
    this.#autoConnect = false;
    if (this.state === "connecting" || this.state === "connected") return;
    this.#closedByUser = false;
    this.#clearTimer("reconnect");
    this.#open();
  }

  /** Closes the socket for good (no reconnect); state becomes "stopped". */
  close() {
    this.#autoConnect = false;
    if (this.state === "stopped") {
      // Already stopped (by the node's close code, say): only make sure a
      // later reconnect timer or token wait cannot revive it.
      this.#closedByUser = true;
      return;
    }
    this.#closedByUser = true;
    this.#dropSocket(1000, "client closed");
    this.#stop(1000, "client closed", "closed");
  }

  /**
   * Sends frame with a fresh id and resolves with the reply that carries it back
   * as ref. Rejects with a ClientError: the node's error (code from the error
   * frame), "timeout" after requestTimeout, "disconnected" when the socket
   * closed after the frame was sent (it may or may not have been acted on),
   * "closed"/"stopped" when the client stopped. While the socket is not ready
   * the frame waits (the timeout runs meanwhile) and is sent once connected.
   */
  request(frame, { timeout } = {}) {
    if (frame === null || typeof frame !== "object" || typeof frame.type !== "string") {
      return Promise.reject(new TypeError("wsnode: request needs a frame object with a type"));
    }
    if (this.state === "stopped") {
      return Promise.reject(new ClientError("stopped", "the client is stopped", frame));
    }
    const id = this.#nextId++;
    const msg = { ...frame, id };
    const ms = timeout ?? this.#opts.requestTimeout;
    return new Promise((resolve, reject) => {
      const entry = { id, frame: msg, resolve, reject, sent: false, timer: null };
      entry.timer = this.#opts.setTimeout(() => {
        this.#forget(entry);
        reject(new ClientError("timeout", `no reply to ${frame.type} within ${ms} ms`, msg));
      }, ms);
      this.#pending.set(String(id), entry);
      if (this.#connected) this.#sendEntry(entry);
      else this.#queue.push(entry);
    });
  }

  /** Application-level ping; resolves with the node's pong frame. */
  ping() {
    return this.request({ type: "ping" });
  }

  /**
   * Sends data to every connection of a user ({toUser}) or to one connection
   * ({toConn}); resolves with the ack. Rejects with code "offline" when the user
   * has no connection anywhere.
   */
  direct(target, data) {
    const frame = { type: "direct", data };
    if (target && target.toUser != null) frame.to_user = target.toUser;
    else if (target && target.toConn != null) frame.to_conn = target.toConn;
    else return Promise.reject(new TypeError("wsnode: direct needs {toUser} or {toConn}"));
    return this.request(frame);
  }

  /** Broadcast to every connection of the cluster (system connections only). */
  broadcast(data, { echo } = {}) {
    const frame = { type: "broadcast", data };
    if (echo !== undefined) frame.echo = echo;
    return this.request(frame);
  }

  /**
   * The subscription object of a room; the same object for the same name.
   * handlers (onMessage, onJoined, onMissed, onPresence, onLeft, onError) are
   * added as listeners. The room is not joined until room.join().
   */
  room(name, handlers = {}) {
    if (typeof name !== "string" || name === "") throw new TypeError("wsnode: room name must be a non-empty string");
    let room = this.#rooms.get(name);
    if (!room) {
      room = new Room(name, this.#roomLink(), this.#opts.onListenerError);
      this.#rooms.set(name, room);
    }
    const events = { onMessage: "message", onJoined: "joined", onMissed: "missed", onPresence: "presence", onLeft: "left", onError: "error" };
    for (const [key, event] of Object.entries(events)) {
      if (typeof handlers[key] === "function") room.on(event, handlers[key]);
    }
    return room;
  }

  /** The rooms the client wants joined, in first-join order. */
  get rooms() {
    return [...this.#rooms.values()].filter((r) => r[ROOM_WANTED]() > 0).sort((a, b) => a[ROOM_WANTED]() - b[ROOM_WANTED]());
  }

  // ---- socket lifecycle ----

  /** Resolves the token (calling the provider) and opens a new socket. */
  async #open() {
    const gen = ++this.#gen;
    this.#resetSocketState();
    this.#setState("connecting", {});
    // Armed before the token is asked for: a token function that never
    // settles must not leave the client "connecting" for ever.
    this.#armTimer("connect", this.#opts.connectTimeout, () => this.#abandon(`not connected within connectTimeout (${this.#opts.connectTimeout} ms)`));
    let token;
    try {
      token = typeof this.#opts.token === "function" ? await this.#opts.token() : this.#opts.token;
    } catch (err) {
      if (gen !== this.#gen) return;
      this.emit("error", new ClientError("token_failed", `token provider failed: ${err?.message ?? err}`));
      this.#afterClose(1006, "token provider failed", "backoff");
      return;
    }
    if (gen !== this.#gen) return; // close() or connect() happened while waiting
    let ws;
    try {
      if (typeof this.#opts.WebSocket !== "function") throw new Error("no WebSocket constructor (pass options.WebSocket)");
      ws = new this.#opts.WebSocket(this.#url);
    } catch (err) {
      // A bad URL or a missing constructor does not fix itself.
      this.#stop(0, `cannot open a WebSocket: ${err?.message ?? err}`, "stopped");
      return;
    }
    this.#ws = ws;
    this.#attach(ws, gen, token);
  }

  #attach(ws, gen, token) {
    const current = () => gen === this.#gen && this.#ws === ws;
    ws.onopen = () => {
      if (!current()) return;
      if (token) {
        // Sent at once: the node wants auth as the first frame, before its
        // auth timeout; the welcome frame may still be on its way.
        this.#authId = this.#nextId++;
        this.#sendNow({ type: "auth", token, id: this.#authId });
      }
    };
    ws.onmessage = (ev) => {
      if (current()) this.#onData(ev.data);
    };
    ws.onclose = (ev) => {
      if (!current()) return;
      this.#ws = null;
      this.#onSocketClosed(ev.code ?? 1006, ev.reason ?? "");
    };
    ws.onerror = (ev) => {
      // A close event normally follows and carries the code, but Node's
      // WebSocket (undici) may report a failed handshake with "error" only,
      // so a socket that stays unclosed after an error is given up.
      if (!current()) return;
      const why = ev?.message || ev?.error?.message || "socket error";
      this.#armTimer("errorGrace", ERROR_GRACE_MS, () => this.#abandon(why));
    };
  }

  /** Detaches and closes the current socket, if any, without reporting its close. */
  #dropSocket(code, reason) {
    const ws = this.#ws;
    this.#ws = null;
    this.#gen++;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => {};
    try {
      if (code === undefined) ws.close();
      else ws.close(code, reason);
    } catch {
      // Closing a socket that is already closing may throw in some implementations.
    }
  }

  /**
   * Gives up on a socket that went silent: a dead TCP path may take minutes to
   * report its close, so the client closes it and acts as if it saw 1006.
   */
  #abandon(reason) {
    this.#dropSocket();
    this.#onSocketClosed(1006, reason);
  }

  #onSocketClosed(code, reason) {
    this.#clearTimer("errorGrace");
    this.#clearTimer("dead");
    this.#clearTimer("connect");
    this.#clearTimer("stable");
    this.#connected = false;
    this.#failSent("disconnected", `connection closed (${code}) before the reply`);
    for (const room of this.#rooms.values()) room[ROOM_DISCONNECTED]();
    if (this.#closedByUser) return;
    this.#afterClose(code, reason, closeAction(code));
  }

  /** Reconnects (now or after a backoff delay) or stops, by action. */
  #afterClose(code, reason, action) {
    if (action === "stop") {
      this.#stop(code, reason, "stopped");
      return;
    }
    const delayMs = action === "now" ? 0 : backoffDelay(this.#attempt++, this.#opts.backoff, this.#opts.random);
    const info = { code, reason, willReconnect: true, delayMs };
    this.#setState("disconnected", info);
    this.emit("disconnected", info);
    this.#armTimer("reconnect", delayMs, () => this.#open());
  }

  /** Ends in "stopped": every waiting promise rejects with errCode. */
  #stop(code, reason, errCode) {
    this.#gen++;
    for (const name of Object.keys(this.#timers)) this.#clearTimer(name);
    this.#connected = false;
    this.#failAll(errCode, reason || `stopped (${code})`);
    for (const room of this.#rooms.values()) room[ROOM_STOPPED](errCode, reason);
    const info = { code, reason, willReconnect: false };
    this.#setState("stopped", info);
    this.emit("disconnected", { ...info, delayMs: null });
    this.emit("stopped", { code, reason });
  }

  #resetSocketState() {
    this.#welcomed = false;
    this.#authId = null;
    this.#authenticated = false;
    this.#connected = false;
  }

  #setState(state, extra) {
    this.state = state;
    this.emit("state", { state, ...extra });
  }

  // ---- inbound frames ----

  #onData(data) {
    // Any frame proves the socket alive, even one the client cannot use.
    if (this.#welcomed) this.#armDeadTimer();
    const { frame, error } = parseFrame(data);
    if (error) {
      this.emit("frame", { dir: "in", frame: null, raw: data, error });
      return;
    }
    this.emit("frame", { dir: "in", frame });
    try {
      this.#dispatch(frame);
    } catch (err) {
      // A frame of an unexpected shape must not break the socket's handler.
      this.emit("frame", { dir: "in", frame, error: `not handled: ${err?.message ?? err}` });
    }
  }

  #dispatch(frame) {
    switch (frame.type) {
      case "welcome":
        return this.#onWelcome(frame);
      case "authenticated":
        return this.#onAuthenticated(frame);
      case "ping":
        if (frame.ref == null) this.#sendNow({ type: "pong" });
        break;
      case "joined":
      case "left":
      case "message":
      case "presence":
      case "history":
        this.#toRoom(frame);
        break;
      case "direct":
      case "broadcast":
        this.emit(frame.type, frame);
        break;
      case "error":
        return this.#onError(frame);
      default:
        break; // unknown types are ignored (they were shown on "frame")
    }
    this.#settle(frame, null);
  }

  #onWelcome(frame) {
    this.#welcomed = true;
    this.connId = frame.conn_id ?? null;
    this.nodeId = frame.node_id ?? null;
    this.guests = frame.guests ?? null;
    this.pingIntervalMs = typeof frame.ping_interval_ms === "number" && frame.ping_interval_ms > 0 ? frame.ping_interval_ms : null;
    this.#armDeadTimer();
    if (this.#authId === null) {
      // A guest: no auth frame, connected with the welcome. (A token whose
      // auth frame went out with onopen always has an #authId by now.)
      this.user = null;
      this.connType = null;
      this.#becomeConnected();
    } else if (this.#authenticated) {
      this.#becomeConnected();
    }
  }

  #onAuthenticated(frame) {
    if (frame.ref == null || String(frame.ref) !== String(this.#authId)) return;
    this.#authenticated = true;
    this.user = frame.user ?? null;
    this.connType = frame.conn_type ?? null;
    if (this.#welcomed) this.#becomeConnected();
  }

  #onError(frame) {
    if (frame.ref != null && this.#pending.has(String(frame.ref))) {
      this.#settle(frame, new ClientError(String(frame.code ?? "error"), String(frame.message ?? frame.code ?? "error"), frame));
      return;
    }
    // Not the answer to a request: the auth error (a close follows), a failed
    // message without id, a token_expired notice, ...
    this.emit("error", frame);
  }

  #toRoom(frame) {
    const room = typeof frame.room === "string" ? this.#rooms.get(frame.room) : undefined;
    const accepted = room ? room[ROOM_FRAME](frame) : true;
    if (frame.type === "message" && accepted) this.emit("message", frame);
  }

  /** Resolves (or with err, rejects) the request frame.ref answers. */
  #settle(frame, err) {
    if (frame.ref == null) return;
    const entry = this.#pending.get(String(frame.ref));
    if (!entry) return;
    this.#forget(entry);
    if (err) entry.reject(err);
    else entry.resolve(frame);
  }

  #becomeConnected() {
    if (this.#connected) return;
    this.#connected = true;
    this.#clearTimer("connect");
    this.#setState("connected", {});
    // The attempt counter resets only once a connection has lasted: a node
    // that accepts and then drops at once must still see growing delays.
    this.#armTimer("stable", this.#opts.stableAfter, () => {
      this.#attempt = 0;
    });
    // Rooms first, so queued publishes find their room joined.
    for (const room of this.rooms) room[ROOM_REJOIN]();
    const queued = this.#queue;
    this.#queue = [];
    for (const entry of queued) this.#sendEntry(entry);
    this.emit("connected", { connId: this.connId, nodeId: this.nodeId, user: this.user, connType: this.connType });
  }

  // ---- outbound frames and request bookkeeping ----

  #sendNow(frame) {
    const ws = this.#ws;
    if (!ws) return false;
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      return false; // the close event follows and handles it
    }
    this.emit("frame", { dir: "out", frame: redact(frame) });
    return true;
  }

  #sendEntry(entry) {
    entry.sent = true;
    this.#sendNow(entry.frame);
  }

  #forget(entry) {
    this.#opts.clearTimeout(entry.timer);
    this.#pending.delete(String(entry.id));
    const i = this.#queue.indexOf(entry);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  /** Rejects the requests already sent: their socket is gone. Queued ones wait. */
  #failSent(code, message) {
    for (const entry of [...this.#pending.values()]) {
      if (!entry.sent) continue;
      this.#forget(entry);
      entry.reject(new ClientError(code, message, entry.frame));
    }
  }

  #failAll(code, message) {
    for (const entry of [...this.#pending.values()]) {
      this.#forget(entry);
      entry.reject(new ClientError(code, message, entry.frame));
    }
    this.#queue = [];
  }

  // ---- timers ----

  #armTimer(name, ms, fn) {
    this.#clearTimer(name);
    this.#timers[name] = this.#opts.setTimeout(() => {
      this.#timers[name] = null;
      fn();
    }, ms);
  }

  #clearTimer(name) {
    if (this.#timers[name] !== null) {
      this.#opts.clearTimeout(this.#timers[name]);
      this.#timers[name] = null;
    }
  }

  /** The node pings every ping interval, so silence beyond it plus a margin means a dead socket. */
  #armDeadTimer() {
    if (this.pingIntervalMs === null) return;
    const ms = this.pingIntervalMs + this.#opts.pingMargin;
    this.#armTimer("dead", ms, () => this.#abandon(`no frame within ${ms} ms (ping interval + margin)`));
  }

  /** What a Room may use of its client. */
  #roomLink() {
    return {
      request: (frame) => this.request(frame),
      connected: () => this.#connected,
      stopped: () => this.state === "stopped",
      nextSeq: () => ++this.#roomSeq,
      timeout: () => this.#opts.requestTimeout,
      setTimeout: this.#opts.setTimeout,
      clearTimeout: this.#opts.clearTimeout,
      emitError: (frame) => this.emit("error", frame),
    };
  }
}

/**
 * A room the application wants to be in. It stays wanted from join() to leave(),
 * across reconnects: after each one the client joins it again, with its last
 * position in a history room, so the node replays what the socket missed.
 */
export class Room extends Emitter {
  name;
  /** Offset of the last message seen in a history room (null otherwise; 0 with epoch null in a room without messages yet). */
  offset = null;
  /** Epoch of that offset (null when unknown). */
  epoch = null;
  /** Joined on the current socket. */
  joined = false;

  #link;
  #seq = 0; // > 0 while wanted: its place in first-join order
  #joinedBefore = false; // joined on an earlier socket: the next join is a rejoin
  #joinInFlight = false;
  #sentSince = null;
  #lastJoined = null;
  #waiters = []; // join() promises waiting for joined

  constructor(name, link, onListenerError) {
    super(onListenerError);
    this.name = name;
    this.#link = link;
  }

  /** True from join() until leave(). */
  get wanted() {
    return this.#seq > 0;
  }

  /**
   * Joins the room and keeps it joined across reconnects until leave().
   * Resolves with the joined frame; while disconnected it waits for the
   * reconnect (requestTimeout still applies). A join refused by the node
   * (forbidden, invalid_name, room_limit, ...) rejects and the room is no
   * longer wanted.
   */
  join() {
    if (this.#link.stopped()) return Promise.reject(new ClientError("stopped", "the client is stopped"));
    if (this.wanted && this.joined) return Promise.resolve(this.#lastJoined);
    if (!this.wanted) this.#seq = this.#link.nextSeq();
    const promise = this.#waitJoined();
    if (this.#link.connected() && !this.#joinInFlight) this.#sendJoin(true);
    return promise;
  }

  /** Leaves the room; resolves with the left frame (or a local one when offline). */
  async leave() {
    const wasJoined = this.joined || this.#joinInFlight;
    this.#unwant(new ClientError("left", `left room ${this.name}`));
    if (!wasJoined || !this.#link.connected()) {
      // Nothing to tell the node: it holds no membership of ours now.
      this.joined = false;
      const frame = { type: "left", room: this.name };
      this.emit("left", frame);
      return frame;
    }
    try {
      return await this.#link.request({ type: "leave", room: this.name });
    } catch (err) {
      // Without a socket the node has dropped the membership anyway.
      if (err.code === "disconnected" || err.code === "closed") return { type: "left", room: this.name };
      throw err;
    }
  }

  /** Publishes data to the room; resolves with the ack (offset/epoch in a history room). */
  publish(data, { echo } = {}) {
    const frame = { type: "message", room: this.name, data };
    if (echo !== undefined) frame.echo = echo;
    return this.#link.request(frame);
  }

  /**
   * Reads the room's history (members only): the newest `limit` messages, or
   * with `since` ({offset, epoch}) the ones after that position.
   */
  history({ limit, since } = {}) {
    const frame = { type: "history", room: this.name };
    if (limit !== undefined) frame.limit = limit;
    if (since !== undefined) frame.since = since;
    return this.#link.request(frame);
  }

  // ---- called by the client ----

  [ROOM_WANTED]() {
    return this.#seq;
  }

  [ROOM_REJOIN]() {
    if (this.wanted && !this.#joinInFlight) this.#sendJoin(false);
  }

  [ROOM_DISCONNECTED]() {
    if (this.joined) this.#joinedBefore = true;
    this.joined = false;
    this.#joinInFlight = false;
  }

  [ROOM_STOPPED](code, reason) {
    this[ROOM_DISCONNECTED]();
    this.#rejectWaiters(new ClientError(code, reason || "the client stopped"));
  }

  /** Handles a frame for this room; returns false when a message was dropped. */
  [ROOM_FRAME](frame) {
    switch (frame.type) {
      case "joined":
        if (this.wanted) this.#onJoined(frame);
        return true;
      case "left":
        this.joined = false;
        this.emit("left", frame);
        return true;
      case "message":
        return this.#onMessage(frame);
      case "presence":
        this.emit("presence", frame);
        return true;
      default:
        return true; // "history" replies go to their request promise
    }
  }

  // ---- internals ----

  #sendJoin(explicit) {
    const frame = { type: "join", room: this.name };
    if (this.offset !== null && this.epoch) frame.since = { offset: this.offset, epoch: this.epoch };
    this.#sentSince = frame.since ?? null;
    this.#joinInFlight = true;
    this.#link.request(frame).catch((err) => this.#onJoinFailed(err, explicit));
  }

  #onJoinFailed(err, explicit) {
    this.#joinInFlight = false;
    // A dropped socket is no answer: the join is sent again on reconnect.
    if (err.code === "disconnected" || err.code === "closed" || err.code === "stopped") return;
    if (explicit) {
      this.#unwant(err);
    } else {
      // A rejoin the node refused: the room stays wanted and is tried again
      // on the next reconnect; the application hears of it.
      this.emit("error", err);
      if (err.frame?.type === "error") this.#link.emitError(err.frame);
    }
  }

  #onJoined(frame) {
    const rejoin = this.#joinedBefore;
    const since = this.#sentSince;
    this.#joinInFlight = false;
    this.#sentSince = null;
    this.joined = true;
    this.#joinedBefore = true;
    this.#lastJoined = frame;
    const reason = this.#takePosition(frame, since, rejoin);
    this.emit("joined", frame);
    if (reason) {
      this.emit("missed", { room: this.name, reason, since, offset: this.offset, epoch: this.epoch });
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve(frame);
  }

  /**
   * Updates offset/epoch from a joined frame and returns why messages may have
   * been missed, or null. After recovered:true the position stays: the replay
   * that follows moves it message by message.
   */
  #takePosition(frame, since, rejoin) {
    const hasHistory = typeof frame.offset === "number";
    if (!hasHistory) {
      this.offset = this.epoch = null;
      return rejoin ? "no_history" : null;
    }
    if (since && frame.recovered === true) return null;
    // A room with no message yet has offset 0 and no epoch: the client
    // cannot ask for recovery then (since needs an epoch), but if the
    // offset is still where it was, nothing was missed.
    const known = typeof frame.epoch === "string" && frame.epoch !== "";
    let reason = null;
    if (since) reason = known && frame.epoch !== since.epoch ? "epoch_changed" : "not_recovered";
    else if (rejoin && frame.offset !== this.offset) reason = "not_recovered";
    this.offset = frame.offset;
    this.epoch = known ? frame.epoch : null;
    return reason;
  }

  /** Dedups by offset: a message at or before the last seen offset of the same epoch is dropped. */
  #onMessage(frame) {
    if (!this.wanted) return false; // in flight when we left
    if (typeof frame.offset === "number" && typeof frame.epoch === "string" && frame.epoch !== "") {
      if (frame.epoch === this.epoch && frame.offset <= this.offset) return false;
      const epochChanged = this.epoch !== null && frame.epoch !== this.epoch;
      const since = epochChanged ? { offset: this.offset, epoch: this.epoch } : null;
      this.offset = frame.offset;
      this.epoch = frame.epoch;
      if (epochChanged) {
        this.emit("missed", { room: this.name, reason: "epoch_changed", since, offset: this.offset, epoch: this.epoch });
      }
    }
    this.emit("message", frame);
    return true;
  }

  #waitJoined() {
    return new Promise((resolve, reject) => {
      const waiter = { resolve: null, reject: null, timer: null };
      const ms = this.#link.timeout();
      const done = () => {
        this.#link.clearTimeout(waiter.timer);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      waiter.resolve = (v) => (done(), resolve(v));
      waiter.reject = (e) => (done(), reject(e));
      // The room stays wanted after a timeout: it is joined when the client
      // reconnects, and leave() undoes it.
      waiter.timer = this.#link.setTimeout(() => waiter.reject(new ClientError("timeout", `room ${this.name} not joined within ${ms} ms`)), ms);
      this.#waiters.push(waiter);
    });
  }

  #rejectWaiters(err) {
    for (const w of [...this.#waiters]) w.reject(err);
  }

  #unwant(err) {
    this.#seq = 0;
    this.#joinedBefore = false;
    this.#joinInFlight = false;
    this.#sentSince = null;
    // A later join() starts fresh: a position kept from before would replay
    // messages of the time the application chose not to be in the room.
    this.offset = this.epoch = null;
    this.#rejectWaiters(err);
  }
}
