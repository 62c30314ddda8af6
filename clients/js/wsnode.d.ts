// TypeScript declarations of wsnode.js, the wsnode WebSocket client.

export declare const VERSION: string;

/** Backoff parameters, in milliseconds. */
export interface BackoffOptions {
  /** Ceiling of the first delay. Default 250. */
  base?: number;
  /** Largest ceiling. Default 10000. */
  max?: number;
  /** Growth of the ceiling per attempt (>= 1). Default 2. */
  factor?: number;
}

/** Timer functions, injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The part of the WebSocket interface the client uses. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type TokenProvider = () => string | null | undefined | Promise<string | null | undefined>;

export interface ClientOptions {
  /** A JWT, or a function called before every (re)connect (so also after close 4005). Absent/empty: guest. */
  token?: string | TokenProvider | null;
  /** WebSocket constructor. Default globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Full-jitter exponential backoff: delay = random(0, min(max, base * factor^attempt)). */
  backoff?: BackoffOptions;
  /** Timeout of every request promise, ms. Default 10000. */
  requestTimeout?: number;
  /** The socket is dead when nothing arrived for welcome.ping_interval_ms + pingMargin. Default 5000. */
  pingMargin?: number;
  /** Welcome (and authenticated) must arrive within this after opening, ms. Default 10000. */
  connectTimeout?: number;
  /** A connection up this long resets the backoff attempt counter, ms. Default 1000. */
  stableAfter?: number;
  /** The constructor calls connect() (in a microtask, so listeners added right after it see every event). Default true. */
  autoConnect?: boolean;
  /** Random source in [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
  /** Timer functions. Default the global ones. */
  timers?: Timers;
  /** Called with an exception a listener threw (the client carries on). Default: rethrown in a microtask. */
  onListenerError?: (err: unknown, event: string) => void;
}

export declare const DEFAULTS: Readonly<{
  backoff: Readonly<Required<BackoffOptions>>;
  requestTimeout: number;
  pingMargin: number;
  connectTimeout: number;
  stableAfter: number;
  autoConnect: boolean;
}>;

export type ConnectionState = "connecting" | "connected" | "disconnected" | "stopped";

/** Client-side error codes, besides the node's (bad_request, forbidden, offline, unavailable, ...). */
export type LocalErrorCode = "timeout" | "disconnected" | "closed" | "stopped" | "left" | "token_failed";

export declare class ClientError extends Error {
  constructor(code: string, message?: string, frame?: Frame | null);
  readonly name: "ClientError";
  /** The node's error code or a LocalErrorCode. */
  code: LocalErrorCode | string;
  /** The error frame, or the request frame that failed. */
  frame: Frame | null;
}

/** Any frame; the node's frames are JSON objects with a type. */
export interface Frame {
  type: string;
  [field: string]: unknown;
}

export interface Sender {
  user?: string;
  conn_id?: string;
  conn_type?: string;
  system?: boolean;
}

export interface MessageFrame extends Frame {
  type: "message";
  room: string;
  from: Sender;
  data: unknown;
  msg_id: string;
  ts: number;
  /** History rooms only. */
  offset?: number;
  epoch?: string;
}

export interface DirectFrame extends Frame {
  type: "direct";
  from: Sender;
  data: unknown;
  msg_id: string;
  ts: number;
}

export interface BroadcastFrame extends Frame {
  type: "broadcast";
  from: Sender;
  data: unknown;
  msg_id: string;
  ts: number;
}

export interface AckFrame extends Frame {
  type: "ack";
  ref: number | string;
  msg_id: string;
  /** History rooms only. */
  offset?: number;
  epoch?: string;
}

export interface JoinedFrame extends Frame {
  type: "joined";
  room: string;
  offset?: number;
  epoch?: string;
  recovered?: boolean;
}

export interface LeftFrame extends Frame {
  type: "left";
  room: string;
}

export interface HistoryFrame extends Frame {
  type: "history";
  room: string;
  messages: MessageFrame[];
  offset: number;
  epoch: string;
  recovered?: boolean;
}

export interface PongFrame extends Frame {
  type: "pong";
  ts: number;
}

export interface ErrorFrame extends Frame {
  type: "error";
  code: string;
  message: string;
  ref?: number | string;
  msg_id?: string;
}

export interface Position {
  offset: number;
  epoch: string;
}

export interface StateEvent {
  state: ConnectionState;
  code?: number;
  reason?: string;
  willReconnect?: boolean;
  delayMs?: number;
}

export interface ConnectedEvent {
  connId: string | null;
  nodeId: string | null;
  user: string | null;
  connType: string | null;
}

export interface DisconnectedEvent {
  code: number;
  reason: string;
  willReconnect: boolean;
  /** Delay before the reconnect; null when not reconnecting. */
  delayMs: number | null;
}

export interface StoppedEvent {
  code: number;
  reason: string;
}

export interface FrameEvent {
  dir: "in" | "out";
  /** null when the inbound data was not a JSON object with a type. */
  frame: Frame | null;
  /** The raw data of an inbound frame that could not be used. */
  raw?: unknown;
  /** Why an inbound frame could not be used. */
  error?: string;
}

export interface MissedEvent {
  room: string;
  reason: "not_recovered" | "epoch_changed" | "no_history";
  /** The position the client asked to recover from (null if none). */
  since: Position | null;
  /** The room's position now. */
  offset: number | null;
  epoch: string | null;
}

export interface ClientEvents {
  state: StateEvent;
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  stopped: StoppedEvent;
  direct: DirectFrame;
  broadcast: BroadcastFrame;
  /** Room messages after dedup, of every room (also rooms joined for the client by the admin API). */
  message: MessageFrame;
  /** Error frames that answer no request; also a ClientError when the token provider failed. */
  error: ErrorFrame | ClientError;
  frame: FrameEvent;
}

export interface RoomEvents {
  message: MessageFrame;
  joined: JoinedFrame;
  missed: MissedEvent;
  presence: Frame;
  left: LeftFrame;
  /** An automatic rejoin the node refused; the room stays wanted. */
  error: ClientError;
}

declare class Emitter<Events> {
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): () => void;
  off<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): void;
  /** Adds a listener for the next event only; returns a function that removes it. */
  once<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): () => void;
  emit<K extends keyof Events>(event: K, payload: Events[K]): void;
}

export interface RoomHandlers {
  onMessage?(frame: MessageFrame): void;
  onJoined?(frame: JoinedFrame): void;
  onMissed?(info: MissedEvent): void;
  onPresence?(frame: Frame): void;
  onLeft?(frame: LeftFrame): void;
  onError?(err: ClientError): void;
}

export declare class Client extends Emitter<ClientEvents> {
  constructor(url: string, options?: ClientOptions);
  readonly url: string;
  state: ConnectionState;
  connId: string | null;
  nodeId: string | null;
  user: string | null;
  connType: string | null;
  /** ping_interval_ms of the last welcome frame. */
  pingIntervalMs: number | null;
  /** Guest policy of the last welcome frame. */
  guests: string | null;
  /** The wanted rooms in first-join order. */
  readonly rooms: Room[];
  /** Idempotent; in "disconnected" it reconnects at once; after "stopped" it starts again. */
  connect(): void;
  /** Stops for good (until connect()); state "stopped". */
  close(): void;
  /** Sends frame with a fresh id; resolves with the reply carrying it as ref. */
  request<R extends Frame = Frame>(frame: Frame, options?: { timeout?: number }): Promise<R>;
  ping(): Promise<PongFrame>;
  direct(target: { toUser: string } | { toConn: string }, data: unknown): Promise<AckFrame>;
  broadcast(data: unknown, options?: { echo?: boolean }): Promise<AckFrame>;
  /** The room's subscription object (the same for the same name); handlers become listeners. */
  room(name: string, handlers?: RoomHandlers): Room;
}

export declare class Room extends Emitter<RoomEvents> {
  private constructor();
  readonly name: string;
  /** Last seen position in a history room, null otherwise. */
  offset: number | null;
  epoch: string | null;
  /** Joined on the current socket. */
  joined: boolean;
  /** From join() until leave(). */
  readonly wanted: boolean;
  join(): Promise<JoinedFrame>;
  leave(): Promise<LeftFrame>;
  publish(data: unknown, options?: { echo?: boolean }): Promise<AckFrame>;
  history(options?: { limit?: number; since?: Position }): Promise<HistoryFrame>;
}

/** Full-jitter delay of reconnect attempt `attempt` (0-based). */
export declare function backoffDelay(attempt: number, backoff?: Required<BackoffOptions>, random?: () => number): number;

/** The reconnect policy of a close code. */
export declare function closeAction(code: number): "now" | "stop" | "fresh_token" | "backoff";
