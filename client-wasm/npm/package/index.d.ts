// Types of tether-ws. TetherSocket is a drop-in superset of the browser's WebSocket: code written
// for WebSocket type-checks against it unchanged.

/** Where a socket is in its life; finer than `readyState`. */
export type TetherSocketState =
  | 'connecting'
  | 'open'
  | 'closing'
  /** Waiting to reconnect after an unexpected close (`readyState` is `CONNECTING`). */
  | 'reconnecting'
  /** The browser is offline; the socket reconnects when it is back (`readyState` is `CONNECTING`). */
  | 'offline'
  | 'closed';

/** Where a socket connects: a URL, or a function asked before every attempt. */
export type TetherSocketUrl = string | URL | (() => string | URL | PromiseLike<string | URL>);

/**
 * Options, all optional. Durations are in milliseconds. The names of the guide's `WebSocketClient`
 * are kept: `heartbeatInterval`, `heartbeatTimeout`, `reconnectInterval`, `maxReconnectInterval`,
 * `reconnectDecay`, `maxReconnectAttempts`.
 */
export interface TetherSocketOptions {
  /** Subprotocols offered, in order of preference (as `new WebSocket(url, protocols)`). */
  protocols?: string | readonly string[];
  /** How long an attempt may take to open before it counts as failed. Default 10000. */
  connectTimeout?: number;
  /** Whether to run the client heartbeat. Default true. */
  heartbeat?: boolean;
  /** Quiet time before the client pings. Default 25000. */
  heartbeatInterval?: number;
  /** How long to wait for any message after a ping before the connection is declared dead. Default 10000. */
  heartbeatTimeout?: number;
  /** The ping. Default `{"type":"ping"}` (Tether's); the guide's server wants `ping`. */
  pingMessage?: string;
  /** The exact answer to a ping, which is not delivered as a message. Default `{"type":"pong"}` or `pong`. */
  pongMessage?: string;
  /** Whether to reconnect after an unexpected close. Default true. */
  reconnect?: boolean;
  /** The delay before the first reconnect, before jitter. Default 1000. */
  reconnectInterval?: number;
  /** How much each attempt's delay grows. Default 1.5. */
  reconnectDecay?: number;
  /** The longest delay, before jitter. Default 30000. */
  maxReconnectInterval?: number;
  /** Jitter: each delay is multiplied by a random factor in 1 ± this. Default 0.5. */
  reconnectJitter?: number;
  /** Attempts in a row before giving up; `Infinity` never gives up. Default 10. */
  maxReconnectAttempts?: number;
  /** How long a connection must stay open before the attempt count starts over. Default 5000. */
  minUptime?: number;
  /** Close codes to reconnect after, besides 1001, 1005, 1006, 1011, 1012, 1013 and 1014. */
  reconnectOn?: readonly number[];
  /** Close codes to stay closed after, among those. */
  stopOn?: readonly number[];
  /** Most messages that may wait in the send queue while not open; 0 disables queueing. Default 1000. */
  maxQueuedMessages?: number;
  /** Most bytes that may wait in the send queue. Default 1048576. */
  maxQueuedBytes?: number;
  /** When set, sends wait in the queue while the browser's buffer holds more bytes than this. */
  highWaterMark?: number;
  /** Whether rooms joined with `join()` are joined again after a reconnect (with `since`). Default true. */
  rejoin?: boolean;
  /** How many of a room's latest messages a first `join()` asks for (at most 100). Default 0. */
  recent?: number;
  /** The resume token to present on the first connection (`?resume=`), from an earlier socket's `resumeToken`: the server gives this socket the same `clientId`. */
  resumeToken?: string;
  /**
   * Asked for a token (a JWT, say) before every connection attempt, the first and every
   * reconnect; the token goes into the URL's query as `token=` (browsers cannot set headers on a
   * WebSocket), and nowhere else. A function that throws or rejects fails the attempt, which is
   * retried with backoff. A close with 4419 (the token expired) reconnects at once, asking again;
   * 4401 (no valid token) is final.
   */
  token?: () => string | PromiseLike<string>;
  /** Whether to connect at once; with false, call `reconnect()` to connect. Default true. */
  immediate?: boolean;
}

/** `reconnecting`: an attempt is scheduled. */
export interface ReconnectingEvent extends Event {
  readonly type: 'reconnecting';
  /** 1 for the first attempt after a close, 2 for the next, ... */
  readonly attempt: number;
  /** Milliseconds until the attempt, jitter included. */
  readonly delay: number;
}

/**
 * `roomnotrecovered`: after a reconnect, the server could not send what a room missed (its
 * history was lost, or the gap is older or longer than it keeps). The room goes on from the
 * server's current position.
 */
export interface RoomNotRecoveredEvent extends Event {
  readonly type: 'roomnotrecovered';
  readonly roomId: string;
  /** `epoch_changed`, `too_old`, `too_many` or `unavailable`. */
  readonly reason: string;
}

/** `statechange`: the socket's `state` changed. */
export interface StateChangeEvent extends Event {
  readonly type: 'statechange';
  readonly state: TetherSocketState;
}

/** What a message's `data` can be: text, or binary as `binaryType` says. */
export type TetherMessageData = string | Blob | ArrayBuffer;

/** The events of a TetherSocket, for `addEventListener`. */
export interface TetherSocketEventMap {
  open: Event;
  message: MessageEvent<TetherMessageData>;
  error: Event;
  close: CloseEvent;
  /** An attempt is scheduled. */
  reconnecting: ReconnectingEvent;
  /** A connection opened again after a close (after its `open`). */
  reconnected: Event;
  /** No message arrived in time after a ping; the connection is being dropped. */
  heartbeattimeout: Event;
  statechange: StateChangeEvent;
  roomnotrecovered: RoomNotRecoveredEvent;
}

/**
 * The server's ack to a request: `{id, ok: true}` and any fields a newer server adds; for a chat
 * message, its `seq` and the room's `epoch` (and `duplicate: true` if it was stored before).
 */
export interface TetherAck {
  readonly id: number;
  readonly ok: true;
  readonly seq?: number;
  readonly epoch?: string;
  readonly duplicate?: boolean;
  readonly [field: string]: unknown;
}

/** A room message as history pages carry it. */
export interface TetherChatMessage {
  readonly from: string;
  readonly roomId: string;
  readonly text: string;
  readonly timestamp: number;
  readonly name?: string;
  readonly seq?: number;
}

/** A page of a room's history: its messages, oldest first, and whether older ones remain. */
export interface TetherHistoryPage {
  readonly roomId: string;
  readonly epoch: string;
  readonly messages: readonly TetherChatMessage[];
  readonly more: boolean;
}

/** Options of `history()`. */
export interface TetherHistoryOptions {
  /** Only messages with a `seq` below this; the latest without it. */
  before?: number;
  /** How many at most (the server sends at most 100). */
  limit?: number;
  /** How long to wait for the page. Default 10000. */
  timeout?: number;
}

/**
 * Why a request failed: `RefusedError` (the server said no; `code` says why, e.g.
 * `not_in_room`), `TimeoutError` (no ack in time), `ClosedError` (the connection closed first;
 * never for a chat message, which is sent again instead), or the `DOMException` that `send` would
 * have thrown (`InvalidStateError` once closed, or for a second `history()` read of a room while
 * one is pending; `QuotaExceededError` when the send queue is full).
 */
export interface TetherRequestError extends Error {
  readonly name: 'RefusedError' | 'TimeoutError' | 'ClosedError' | 'InvalidStateError' | 'QuotaExceededError';
  /** The server's error code, for a `RefusedError`. */
  readonly code?: string;
}

/** Options of a request. */
export interface TetherRequestOptions {
  /** How long to wait for the ack. Default 10000. */
  timeout?: number;
}

/**
 * A resilient WebSocket. Sends made while not open wait in a bounded queue; the connection is
 * watched by a heartbeat and reopened with backoff and jitter; `request()` resolves with the
 * server's ack. Everything `WebSocket` has works the same way.
 */
export declare class TetherSocket extends EventTarget {
  /**
   * Connects to `url`: `ws:`/`wss:`, `http:`/`https:` (used as `ws:`/`wss:`), relative to the
   * page (`/ws`), or a function returning one (or a Promise of one), asked before every attempt.
   * Throws a `SyntaxError` `DOMException` for a URL that cannot be a WebSocket URL.
   */
  constructor(url: TetherSocketUrl, options?: TetherSocketOptions);
  /** As `new WebSocket(url, protocols)`, with options. */
  constructor(url: TetherSocketUrl, protocols?: string | readonly string[], options?: TetherSocketOptions);

  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;

  /** 0 connecting (also while waiting to reconnect, or offline), 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Where the socket is in its life. */
  readonly state: TetherSocketState;
  /** The URL given, resolved; with a URL function, the current connection's URL or `""`. */
  readonly url: string;
  /** The resume token the next connection presents (the latest `connected` gave it); keep it to be the same client after a page reload. */
  readonly resumeToken: string | undefined;
  /** The subprotocol the server chose, or `""`. */
  readonly protocol: string;
  /** The extensions the server chose, or `""`. */
  readonly extensions: string;
  /** Bytes given to `send` and not yet on the wire: the browser's buffer plus the send queue. */
  readonly bufferedAmount: number;
  /** How binary messages arrive. Default `blob`, as `WebSocket`'s. */
  binaryType: BinaryType;

  onopen: ((this: TetherSocket, event: Event) => unknown) | null;
  onmessage: ((this: TetherSocket, event: MessageEvent<TetherMessageData>) => unknown) | null;
  onerror: ((this: TetherSocket, event: Event) => unknown) | null;
  onclose: ((this: TetherSocket, event: CloseEvent) => unknown) | null;

  /**
   * Sends now if open, else queues until the next open. Throws an `InvalidStateError`
   * `DOMException` once closed for good, and a `QuotaExceededError` when the queue is full.
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void;
  /**
   * Closes for good; no reconnect follows. `code` (default 1000) must be 1000 or 3000–4999
   * (else `InvalidAccessError`), `reason` at most 123 bytes (else `SyntaxError`). Queued sends
   * are dropped and pending requests fail with `ClosedError`.
   */
  close(code?: number, reason?: string): void;
  /** Connects again now: after a close, after giving up, or to replace a stuck connection. */
  reconnect(): void;
  /**
   * Sends `{"type": type, "payload": payload, "id": n}` and resolves with the server's ack;
   * rejects with a {@link TetherRequestError}. Made while not open, it is queued like a send.
   * A chat message (`type` `"message"`, a payload with a `roomId`) gets a `cid`, and if its
   * connection drops before the ack, it is sent again after the reconnect: it resolves once, and
   * the room has it once. The timeout runs from the call, across reconnects.
   */
  request(type: string, payload?: unknown, options?: TetherRequestOptions): Promise<TetherAck>;
  /**
   * Reads a page of a room joined with `join()`: `{"type":"history","payload":{roomId, before?,
   * limit?}}`. One read of a room at a time (a page does not say which read it answers); a read
   * whose connection drops is sent again.
   */
  history(roomId: string, options?: TetherHistoryOptions): Promise<TetherHistoryPage>;
  /**
   * Joins a room (`{"type":"join","payload":{"roomId":…}}`), and again after every reconnect
   * with `since`, the position of the last message delivered: the server sends what was missed,
   * and a message delivered already is dropped, so none shows twice. Throws an
   * `InvalidStateError` once closed.
   */
  join(roomId: string): void;
  /** Leaves a room and stops rejoining it. */
  leave(roomId: string): void;

  addEventListener<K extends keyof TetherSocketEventMap>(
    type: K,
    listener: (this: TetherSocket, event: TetherSocketEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof TetherSocketEventMap>(
    type: K,
    listener: (this: TetherSocket, event: TetherSocketEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
}
