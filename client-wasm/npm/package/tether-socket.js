// TetherSocket: a drop-in superset of the browser's WebSocket, over tether-client's engine
// (Rust, compiled to wasm: client-wasm/src/engine.rs and client-wasm/src/js/).
//
// The engine does the work: heartbeat, reconnects with backoff and jitter, the bounded send
// queue, request/ack and rejoining rooms. This file only adapts it to the WebSocket API: it
// builds real Event, MessageEvent and CloseEvent objects from what the engine emits and
// dispatches them on itself (an EventTarget), and throws the DOMExceptions WebSocket throws.
// The numbers it trades with SocketCore are listed in client-wasm/src/js/status.rs.
//
// npm.sh copies this file next to each build's wasm-bindgen glue (web/ and bundler/), which is
// why it imports './tether_ws.js'.
import { SocketCore } from './tether_ws.js';

// SocketCore's state numbers: their names, and the WebSocket readyState each counts as.
const STATES = ['connecting', 'open', 'closing', 'reconnecting', 'offline', 'closed'];
const READY_STATES = [0, 1, 2, 0, 0, 3];
// SocketCore's event kinds.
const EVENTS = ['statechange', 'open', 'message', 'error', 'close', 'reconnecting', 'heartbeattimeout'];
// The numeric and boolean options, in the order SocketCore reads them
// (client-wasm/src/js/options.rs, NUMERIC).
const NUMERIC = ['connectTimeout', 'heartbeat', 'heartbeatInterval', 'heartbeatTimeout', 'reconnect', 'reconnectInterval', 'reconnectDecay', 'maxReconnectInterval', 'reconnectJitter', 'maxReconnectAttempts', 'minUptime', 'maxQueuedMessages', 'maxQueuedBytes', 'highWaterMark', 'rejoin', 'immediate'];
// SocketCore's send statuses (1..3) and close statuses (1..2), as the DOMException to throw.
const SEND_ERRORS = [, ['socket is closed', 'InvalidStateError'], ['send queue is full', 'QuotaExceededError'], ['the browser refused the send', 'InvalidStateError']];
const CLOSE_ERRORS = [, ['close code must be 1000 or 3000-4999', 'InvalidAccessError'], ['close reason is over 123 bytes', 'SyntaxError']];

const check = (status, errors) => {
  if (status) throw new DOMException(...errors[status]);
};

// UTF-8 bytes of a string, for the send queue's byte bound and bufferedAmount: one for ASCII, two
// up to U+07FF and for each half of a surrogate pair (four for the pair), three otherwise.
const utf8Length = (text) => {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 0x80 ? 0 : c < 0x800 || (c >= 0xd800 && c < 0xe000) ? 1 : 2;
  }
  return bytes;
};

// What WebSocket.send accepts, as it would send it. Binary data is copied, as WebSocket does at
// send(): a message may wait in the queue, and the caller may reuse its buffer meanwhile.
const message = (data) =>
  typeof data === 'string' || data instanceof Blob
    ? data
    : data instanceof ArrayBuffer
      ? data.slice(0)
      : ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice()
        : String(data);

const size = (data) => (typeof data === 'string' ? utf8Length(data) : data instanceof Blob ? data.size : data.byteLength);

const requestError = (kind, ack, timeout) =>
  Object.assign(
    new Error(kind === 0 ? (ack.error ?? 'refused') : kind === 1 ? `no ack within ${timeout} ms` : 'socket closed before the ack'),
    kind === 0 ? { name: 'RefusedError', code: ack.code } : { name: kind === 1 ? 'TimeoutError' : 'ClosedError' },
  );

export class TetherSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  #core;
  // The function SocketCore emits through; handed back on reconnect() (see Emitter's docs).
  #emit;
  // The resolved URL, unless it comes from a function.
  #url;
  #binaryType = 'blob';
  // The on<event> handlers, and the listener each one is called through.
  #handlers = {};
  #listeners = {};
  #requests = 0;

  constructor(url, protocols, options) {
    super();
    if (protocols !== undefined && typeof protocols === 'object' && !Array.isArray(protocols)) {
      options = protocols;
      protocols = undefined;
    }
    options = { ...options };
    if (protocols !== undefined) options.protocols = protocols;
    if (typeof options.protocols === 'string') options.protocols = [options.protocols];
    this.#emit = (kind, a, b, c) => this.#dispatch(kind, a, b, c);
    let provider;
    if (typeof url === 'function') {
      // Called by the engine before every attempt with the attempt's number; `url` may return a
      // Promise, and a rejection fails the attempt, which then backs off like any other. The
      // engine holds this function for good, so it reaches the socket through a WeakRef: a
      // closed socket must stay collectable.
      const socket = new WeakRef(this);
      provider = (attempt) =>
        Promise.resolve()
          .then(url)
          .then(
            (next) => socket.deref()?.#core.provide(attempt, String(next)),
            (error) => socket.deref()?.#core.provide(attempt, undefined, String(error?.message ?? error)),
          );
    } else {
      this.#url = SocketCore.resolve(String(url));
      if (this.#url === undefined) {
        throw new DOMException(`invalid WebSocket URL: ${url}`, 'SyntaxError');
      }
    }
    const numbers = NUMERIC.map((key) => +(options[key] ?? NaN));
    this.#core = new SocketCore(this.#url, provider, this.#emit, numbers, options);
  }

  #dispatch(kind, a, b, c) {
    const type = EVENTS[kind];
    const event =
      kind === 2
        ? new MessageEvent(type, { data: a, origin: b })
        : kind === 4
          ? new CloseEvent(type, { code: a, reason: b, wasClean: c })
          : Object.assign(new Event(type), kind === 0 ? { state: STATES[a] } : kind === 5 ? { attempt: a, delay: b } : {});
    this.dispatchEvent(event);
    if (kind === 1 && a) this.dispatchEvent(new Event('reconnected'));
  }

  // Event handler attributes, as the browser's: one listener per type, added when a handler is
  // first set and removed when it is set to null, so it runs in the order it was added.
  #handle(type, handler) {
    handler = typeof handler === 'function' ? handler : null;
    this.#handlers[type] = handler;
    if (handler && !this.#listeners[type]) {
      this.#listeners[type] = (event) => this.#handlers[type]?.call(this, event);
      this.addEventListener(type, this.#listeners[type]);
    } else if (!handler && this.#listeners[type]) {
      this.removeEventListener(type, this.#listeners[type]);
      delete this.#listeners[type];
    }
  }

  get onopen() {
    return this.#handlers.open ?? null;
  }
  set onopen(handler) {
    this.#handle('open', handler);
  }
  get onmessage() {
    return this.#handlers.message ?? null;
  }
  set onmessage(handler) {
    this.#handle('message', handler);
  }
  get onerror() {
    return this.#handlers.error ?? null;
  }
  set onerror(handler) {
    this.#handle('error', handler);
  }
  get onclose() {
    return this.#handlers.close ?? null;
  }
  set onclose(handler) {
    this.#handle('close', handler);
  }

  get CONNECTING() {
    return 0;
  }
  get OPEN() {
    return 1;
  }
  get CLOSING() {
    return 2;
  }
  get CLOSED() {
    return 3;
  }

  get readyState() {
    return READY_STATES[this.#core.state];
  }
  get state() {
    return STATES[this.#core.state];
  }
  get url() {
    return this.#url ?? this.#core.ws?.url ?? '';
  }
  get protocol() {
    return this.#core.ws?.protocol ?? '';
  }
  get extensions() {
    return this.#core.ws?.extensions ?? '';
  }
  get bufferedAmount() {
    return (this.#core.ws?.bufferedAmount ?? 0) + this.#core.queued;
  }
  get binaryType() {
    return this.#binaryType;
  }
  set binaryType(type) {
    if (type === 'blob' || type === 'arraybuffer') {
      this.#binaryType = type;
      this.#core.arrayBuffers(type === 'arraybuffer');
    }
  }

  send(data) {
    data = message(data);
    check(this.#core.send(data, size(data)), SEND_ERRORS);
  }

  close(code = 1000, reason = '') {
    check(this.#core.close(code, String(reason)), CLOSE_ERRORS);
  }

  reconnect() {
    this.#core.reconnect(this.#emit);
  }

  request(type, payload, { timeout = 10000 } = {}) {
    return new Promise((resolve, reject) => {
      const id = ++this.#requests;
      const text = JSON.stringify({ type, payload, id });
      const settle = (kind, ack) => (kind === 0 && ack.ok ? resolve(ack) : reject(requestError(kind, ack, timeout)));
      const status = this.#core.request(id, text, utf8Length(text), timeout, settle);
      if (status) reject(new DOMException(...SEND_ERRORS[status]));
    });
  }

  join(roomId) {
    this.#room(true, roomId);
  }

  leave(roomId) {
    this.#room(false, roomId);
  }

  #room(join, roomId) {
    roomId = String(roomId);
    const text = JSON.stringify({ type: join ? 'join' : 'leave', payload: { roomId } });
    check(this.#core.room(join, roomId, text, utf8Length(text)), SEND_ERRORS);
  }
}
