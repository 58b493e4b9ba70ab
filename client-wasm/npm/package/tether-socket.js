// TetherSocket: a drop-in superset of the browser's WebSocket, over tether-client's state machine
// (Rust, compiled to wasm: client-wasm/src/machine.rs, through client-wasm/src/js/).
//
// The machine decides: when to connect, ping, give a connection up, reconnect and after how long,
// whether a close is final, what waits in the send queue and when it goes out, which requests
// fail and which are sent again, request ids and cids, when rooms are joined again and from where
// (`since`), which room messages are new and which were delivered already. It is the same machine
// the Rust client runs. This file is its driver in JavaScript: it owns the browser's WebSocket
// and its listeners, the page's listeners and one timer; it tells the machine what happened to
// them (#in), then does what the machine says (#run). It also adapts all that to the WebSocket
// API: real Event, MessageEvent and CloseEvent objects dispatched on itself (an EventTarget), and
// the DOMExceptions WebSocket throws. Only numbers cross into wasm: messages, texts and JSON stay
// here, and the machine knows rooms and epochs by number (#rooms, #epochs). The numbers are
// listed in client-wasm/src/js/status.rs, and a test there checks the tables below against it.
//
// Every listener and timer belongs to the socket and goes with it: a WebSocket's listeners when
// the machine lets go of it (Detach), the page's listeners and the timer once the socket is
// closed for good. A closed socket holds nothing and is garbage-collected.
//
// npm.sh copies this file next to each build's wasm-bindgen glue (web/ and bundler/), which is
// why it imports './tether_ws.js'.
import { SocketCore } from './tether_ws.js';

// SocketCore's inputs (client-wasm/src/js/status.rs, `input`).
const STATE = 0;
const QUEUED = 1;
const DEADLINE = 2;
const POLICY = 3;
const RECONNECT = 4;
const OPENING = 5;
const FAILED = 6;
const OPENED = 7;
const RECEIVED = 8;
const ACK = 9;
const CLOSED = 10;
const TICK = 11;
const WAKE = 12;
const NETWORK = 13;
const SEND = 14;
const REQUEST = 15;
const CLOSE = 16;
const ID = 17;
const CID = 18;
const JOIN = 19;
const LEAVE = 20;
const JOINED = 21;
const MESSAGE = 22;
const PAGE = 23;
// SocketCore's commands, as poll() returns them (client-wasm/src/js/status.rs, `Op`); from
// OP_STATE on, they are events.
const OP_CONNECT = 1;
const OP_DETACH = 2;
const OP_SEND = 3;
const OP_PING = 4;
const OP_JOIN = 5;
const OP_REQUEST = 6;
const OP_SETTLE = 7;
const OP_STATE = 8;
const OP_OPEN = 9;
const OP_CLOSE = 11;
const OP_RECONNECTING = 12;
const OP_ROOM_NOT_RECOVERED = 14;
// SocketCore's state numbers: their names, and the WebSocket readyState each counts as.
const STATES = ['connecting', 'open', 'closing', 'reconnecting', 'offline', 'closed'];
const READY_STATES = [0, 1, 2, 0, 0, 3];
// The event of each of SocketCore's event commands, from OP_STATE on.
const EVENTS = ['statechange', 'open', 'error', 'close', 'reconnecting', 'heartbeattimeout', 'roomnotrecovered'];
// The texts of the close reasons the machine makes up (sources 2 and 3); sources 0 and 1 are the
// browser's reason and an attempt's failure, kept in #why.
const REASONS = [, , 'connect timeout', 'heartbeat timeout'];
// The numeric and boolean options, in the order SocketCore reads them
// (client-wasm/src/js/options.rs, NUMERIC).
const NUMERIC = ['connectTimeout', 'heartbeat', 'heartbeatInterval', 'heartbeatTimeout', 'reconnect', 'reconnectInterval', 'reconnectDecay', 'maxReconnectInterval', 'reconnectJitter', 'maxReconnectAttempts', 'minUptime', 'maxQueuedMessages', 'maxQueuedBytes', 'highWaterMark', 'rejoin', 'recent'];
// SocketCore's send statuses (1..3) and close statuses (1..2), as the DOMException to throw.
const SEND_ERRORS = [, ['socket is closed', 'InvalidStateError'], ['send queue is full', 'QuotaExceededError'], ['a history read of this room is pending', 'InvalidStateError']];
const CLOSE_ERRORS = [, ['close code must be 1000 or 3000-4999', 'InvalidAccessError'], ['close reason is over 123 bytes', 'SyntaxError']];
// The heartbeat's texts unless the options say otherwise: Tether's, and the guide's bare `pong`.
const PING = '{"type":"ping"}';
const PONGS = ['{"type":"pong"}', 'pong'];
// The page's events that make the machine look at the connection at once.
const PAGE_EVENTS = ['online', 'offline', 'pageshow'];
// The longest a timer waits: 2^31 - 1 ms.
const MAX_TIMER = 2147483647;
// URL schemes a WebSocket accepts, as the scheme to connect with.
const SCHEMES = { 'ws:': 'ws:', 'http:': 'ws:', 'wss:': 'wss:', 'https:': 'wss:' };

const check = (status, errors) => {
  if (status) throw new DOMException(...errors[status]);
};

// A URL resolved against the page as a WebSocket URL (`/ws` -> `ws://host/ws`, `https:` ->
// `wss:`, no fragment), or a SyntaxError, as `new WebSocket` throws.
const resolve = (url) => {
  try {
    const parsed = new URL(url, globalThis.location?.href);
    const scheme = SCHEMES[parsed.protocol];
    if (scheme) {
      parsed.protocol = scheme;
      parsed.hash = '';
      return parsed.href;
    }
  } catch {}
  throw new DOMException(`invalid WebSocket URL: ${url}`, 'SyntaxError');
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

// How a request failed: kind 0 the server refused it (`ack`), 1 timed out, 2 closed first.
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
  // The browser socket of the current attempt, while the machine holds on to it.
  #ws = null;
  // The resolved URL, or the function asked for one before every attempt.
  #url;
  #protocols;
  #binaryType = 'blob';
  // The heartbeat's ping, undefined when it is off, and the one answer to it if the options name
  // one (else PONGS).
  #ping;
  #pong;
  // The messages the machine has queued, oldest first: it sees only their sizes, and asks for
  // them in this order.
  #queue = [];
  // Room names under the machine's room keys (a left room's key is a hole).
  #rooms = [];
  // Epoch texts under the numbers the machine knows them by.
  #epochs = [];
  // Request id -> [its text, settle(kind, value)]: the machine keeps their deadlines, and may ask
  // for the text again on a later connection.
  #requests = new Map();
  // The prefix of this socket's cids (the machine's random number, and '-').
  #cid;
  // The resume token the next connection presents (`?resume=`): the latest `connected` gave it.
  #resume;
  // The `token` option: asked before every attempt, for the `?token=` of its URL.
  #token;
  // The text of the event the machine reports next: a close's reason (the browser's, or why an
  // attempt failed), or why a room was not recovered.
  #why = '';
  // The one timer, and the deadline it is set for.
  #timer;
  #at = Infinity;
  #listening = false;
  // The on<event> handlers, and the listener each one is called through.
  #handlers = {};
  #listeners = {};

  constructor(url, protocols, options) {
    super();
    if (protocols !== undefined && typeof protocols === 'object' && !Array.isArray(protocols)) {
      options = protocols;
      protocols = undefined;
    }
    options = { ...options };
    protocols ??= options.protocols;
    this.#protocols = typeof protocols === 'string' ? [protocols] : protocols;
    // A function is asked before every attempt (#connect); a URL is checked now.
    this.#url = typeof url === 'function' ? url : resolve(String(url));
    this.#resume = options.resumeToken ?? undefined;
    this.#token = options.token;
    const numbers = NUMERIC.map((key) => +(options[key] ?? NaN));
    this.#core = new SocketCore(...numbers, Math.random());
    this.#cid = this.#in(CID) + '-';
    for (const code of options.reconnectOn ?? []) this.#in(POLICY, code, 1);
    for (const code of options.stopOn ?? []) this.#in(POLICY, code, 0);
    // `heartbeat: false` (or 0) turns it off; then a pong is a message like any other.
    if (numbers[1] !== 0) {
      this.#ping = options.pingMessage ?? PING;
      this.#pong = options.pongMessage;
    }
    if (+(options.immediate ?? NaN) !== 0) this.reconnect();
  }

  // Tells the machine something, or asks it something (see `input` in status.rs).
  #in(op, x, y, z, w) {
    return this.#core.input(op, Date.now(), this.#ws?.bufferedAmount ?? 0, x, y, z, w);
  }

  // The number of an epoch's text: the same text, the same number.
  #epoch(epoch) {
    const i = this.#epochs.indexOf(epoch);
    return i < 0 ? this.#epochs.push(epoch) - 1 : i;
  }

  // Ends request `id`: kind 0 answered (with the ack or page), 1 timed out, 2 closed first.
  #settle(id, kind, value) {
    const request = this.#requests.get(id);
    this.#requests.delete(id);
    request?.[1](kind, value);
  }

  // Does what the machine says, in order, then sets the timer for its next deadline. A listener
  // that calls back in (send, close...) runs this again, which carries on with the commands
  // left, in order.
  #run() {
    const core = this.#core;
    for (let op; (op = core.poll()); ) {
      const a = core.a;
      const b = core.b;
      if (op === OP_CONNECT) this.#connect(a);
      else if (op === OP_DETACH) this.#detach(a);
      else if (op === OP_SEND) this.#ws.send(this.#queue.shift());
      else if (op === OP_REQUEST) this.#ws.send(this.#requests.get(a)[0]);
      else if (op === OP_PING) this.#ws.send(this.#ping);
      else if (op === OP_JOIN) {
        const c = core.c;
        const payload = { roomId: this.#rooms[a], ...(b < 0 ? c && { recent: c } : { since: { epoch: this.#epochs[c], seq: b } }) };
        this.#ws.send(JSON.stringify({ type: 'join', payload }));
      } else if (op === OP_SETTLE) this.#settle(a, b);
      else this.#event(op, a, b);
    }
    const at = this.#in(DEADLINE);
    if (at !== this.#at) {
      clearTimeout(this.#timer);
      this.#at = at;
      if (at < Infinity) {
        this.#timer = setTimeout(
          () => {
            this.#at = Infinity;
            this.#in(TICK);
            this.#run();
          },
          Math.min(Math.max(at - Date.now(), 0), MAX_TIMER),
        );
      }
    }
  }

  // One of the machine's events (OP_STATE on), as the DOM event it is.
  #event(op, a, b) {
    const type = EVENTS[op - OP_STATE];
    // Closed for good (state 5): nothing left to listen for until reconnect().
    if (op === OP_STATE && a === 5) this.#listen(false);
    this.dispatchEvent(
      op === OP_CLOSE
        ? new CloseEvent(type, { code: a, reason: REASONS[b >> 1] ?? this.#why, wasClean: (b & 1) === 1 })
        : Object.assign(
            new Event(type),
            op === OP_STATE
              ? { state: STATES[a] }
              : op === OP_RECONNECTING
                ? { attempt: a, delay: b }
                : op === OP_ROOM_NOT_RECOVERED
                  ? { roomId: this.#rooms[a], reason: this.#why }
                  : {},
          ),
    );
    if (op === OP_OPEN && a) this.dispatchEvent(new Event('reconnected'));
  }

  // Starts attempt `attempt`: with a URL function, once it answers, then with a token function,
  // once that answers (a Promise is awaited, and a failure of either fails the attempt, which
  // then backs off like any other).
  #connect(attempt) {
    const url = this.#url;
    const token = this.#token;
    if (typeof url !== 'function' && !token) return this.#open(attempt, url);
    (async () => [String(await (typeof url === 'function' ? url() : url)), token && String(await token())])().then(
      ([next, value]) => this.#open(attempt, next, undefined, value),
      (error) => this.#open(attempt, undefined, String(error?.message ?? error)),
    );
  }

  // Creates attempt `attempt`'s WebSocket, with `token` in its query, unless the machine gave the
  // attempt up meanwhile. The token goes nowhere else.
  #open(attempt, url, failure, token) {
    if (!this.#in(OPENING, attempt)) return;
    if (failure === undefined) {
      try {
        const target = new URL(resolve(url));
        if (this.#resume !== undefined) target.searchParams.set('resume', this.#resume);
        if (token !== undefined) target.searchParams.set('token', token);
        const ws = new WebSocket(target.href, this.#protocols);
        ws.binaryType = this.#binaryType;
        ws.onopen = () => {
          this.#in(OPENED);
          this.#run();
        };
        ws.onmessage = (event) => this.#message(event);
        ws.onerror = () => this.dispatchEvent(new Event('error'));
        ws.onclose = (event) => {
          this.#why = event.reason;
          this.#in(CLOSED, event.code, event.wasClean);
          this.#run();
        };
        this.#ws = ws;
      } catch (error) {
        failure = error.message;
      }
    }
    if (failure !== undefined) {
      this.#why = failure;
      this.#in(FAILED, attempt);
    }
    this.#run();
  }

  // Lets go of the WebSocket: no event of it reaches us again, and it is closed if still live.
  #detach(dead) {
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = null;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    if (ws.readyState < 2) ws.close(dead ? 4000 : 1000, dead ? 'heartbeat timeout' : '');
  }

  // A message: the machine is told what it needs of acks, room messages, joined and history
  // pages (and may drop a room message it delivered already), then it is dispatched.
  #message(event) {
    const data = event.data;
    this.#in(RECEIVED);
    if (typeof data === 'string') {
      // The answer to a ping is not a message.
      if (this.#ping !== undefined && (this.#pong === undefined ? PONGS.includes(data) : data === this.#pong)) return;
      let frame;
      try {
        frame = JSON.parse(data);
      } catch {}
      const type = frame?.type;
      const p = frame?.payload;
      if (p instanceof Object) {
        const room = this.#rooms.indexOf(p.roomId);
        const epoch = this.#epoch(p.epoch);
        // Only numeric ids are ours: the machine numbers its requests.
        if (type === 'connected' && typeof p.resumeToken === 'string') this.#resume = p.resumeToken;
        else if (type === 'ack') typeof p.id === 'number' && this.#in(ACK, p.id, p.seq, epoch) && this.#settle(p.id, 0, p);
        else if (room >= 0) {
          if (type === 'message' && !this.#in(MESSAGE, room, p.seq)) return;
          if (type === 'joined') {
            this.#why = p.reason;
            this.#in(JOINED, room, p.seq, epoch, p.recovered);
          }
          if (type === 'history') this.#settle(this.#in(PAGE, room), 0, p);
        }
      }
    }
    this.dispatchEvent(new MessageEvent('message', { data, origin: event.origin }));
    this.#run();
  }

  // The page's online, offline, pageshow and visibilitychange events, while the socket is not
  // closed for good: a network change or a page shown again checks the connection at once.
  #onPage = (event) => {
    const type = event.type;
    if (type === 'online' || type === 'offline') this.#in(NETWORK, type === 'online');
    else if (type === 'pageshow' || !document.hidden) this.#in(WAKE);
    this.#run();
  };

  #listen(on) {
    if (on === this.#listening) return;
    this.#listening = on;
    const method = on ? 'addEventListener' : 'removeEventListener';
    // Not in Node, and no document in a worker.
    for (const type of PAGE_EVENTS) globalThis[method]?.(type, this.#onPage);
    globalThis.document?.[method]('visibilitychange', this.#onPage);
  }

  // The machine took the message `data` (status 0): keep it until it asks for it.
  #submit(data, status) {
    check(status, SEND_ERRORS);
    this.#queue.push(data);
    this.#run();
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
    return READY_STATES[this.#in(STATE)];
  }
  get state() {
    return STATES[this.#in(STATE)];
  }
  get url() {
    const url = this.#url;
    return typeof url === 'string' ? url : (this.#ws?.url ?? '');
  }
  /** The resume token the next connection presents; keep it to be the same client after a reload. */
  get resumeToken() {
    return this.#resume;
  }
  get protocol() {
    return this.#ws?.protocol ?? '';
  }
  get extensions() {
    return this.#ws?.extensions ?? '';
  }
  get bufferedAmount() {
    return (this.#ws?.bufferedAmount ?? 0) + this.#in(QUEUED);
  }
  get binaryType() {
    return this.#binaryType;
  }
  set binaryType(type) {
    if (type === 'blob' || type === 'arraybuffer') {
      this.#binaryType = type;
      if (this.#ws) this.#ws.binaryType = type;
    }
  }

  send(data) {
    data = message(data);
    this.#submit(data, this.#in(SEND, size(data)));
  }

  close(code = 1000, reason = '') {
    reason = String(reason);
    const status = this.#in(CLOSE, code, utf8Length(reason));
    if (status === 3) this.#ws.close(code, reason);
    else check(status, CLOSE_ERRORS);
    // The machine dropped its queue, and asks for none of these again.
    this.#queue = [];
    this.#run();
  }

  reconnect() {
    this.#listen(true);
    this.#in(RECONNECT, globalThis.navigator?.onLine ?? true);
    this.#run();
  }

  // A chat message (type `message`, a payload with a roomId) gets a cid, and is sent again after
  // a reconnect instead of failing.
  request(type, payload, { timeout = 10000 } = {}) {
    const room = payload?.roomId;
    return this.#request(type, payload, timeout, type === 'message' && typeof room === 'string', room);
  }

  history(roomId, { before, limit, timeout = 10000 } = {}) {
    return this.#request('history', { roomId, before, limit }, timeout, 2, roomId);
  }

  // A request of `kind` (false any, true a chat message, 2 a history read; the machine reads them
  // as 0, 1 and 2) to room `room`.
  #request(type, payload, timeout, kind, room) {
    return new Promise((resolve, reject) => {
      const id = this.#in(ID, kind, this.#rooms.indexOf(room));
      // A payload's own cid wins.
      if (kind === true) payload = { cid: this.#cid + id, ...payload };
      const text = JSON.stringify({ type, payload, id });
      const status = this.#in(REQUEST, id, utf8Length(text), timeout);
      if (status) return reject(new DOMException(...SEND_ERRORS[status]));
      // An ack that says ok, or a page (which has no `ok`).
      this.#requests.set(id, [text, (kind, v) => (kind === 0 && v.ok !== false ? resolve(v) : reject(requestError(kind, v, timeout)))]);
      this.#run();
    });
  }

  join(roomId) {
    roomId = String(roomId);
    const room = this.#in(JOIN, this.#rooms.indexOf(roomId));
    check(room < 0 && 1, SEND_ERRORS);
    this.#rooms[room] = roomId;
    this.#run();
  }

  leave(roomId) {
    roomId = String(roomId);
    const room = this.#rooms.indexOf(roomId);
    if (room >= 0) {
      this.#in(LEAVE, room);
      delete this.#rooms[room];
    }
    this.send(JSON.stringify({ type: 'leave', payload: { roomId } }));
  }
}
