// Every public API of tether-ws, type-checked by `tsc --strict --noEmit` in scripts/npm-tests.sh
// against the installed package (so its index.d.ts is what is checked). Not run.
import {
  TetherSocket,
  type ReconnectingEvent,
  type RoomNotRecoveredEvent,
  type StateChangeEvent,
  type TetherAck,
  type TetherHistoryPage,
  type TetherMessageData,
  type TetherRequestError,
  type TetherSocketOptions,
  type TetherSocketState,
} from 'tether-ws';

const options: TetherSocketOptions = {
  protocols: ['chat', 'json'],
  connectTimeout: 10_000,
  heartbeat: true,
  heartbeatInterval: 25_000,
  heartbeatTimeout: 10_000,
  pingMessage: '{"type":"ping"}',
  pongMessage: '{"type":"pong"}',
  reconnect: true,
  reconnectInterval: 1_000,
  reconnectDecay: 1.5,
  maxReconnectInterval: 30_000,
  reconnectJitter: 0.5,
  maxReconnectAttempts: Infinity,
  minUptime: 5_000,
  reconnectOn: [4000],
  stopOn: [1013],
  maxQueuedMessages: 1_000,
  maxQueuedBytes: 1 << 20,
  highWaterMark: 64 * 1024,
  rejoin: true,
  recent: 20,
  token: async () => (await fetch('/token')).text(),
  immediate: true,
};

// Drop-in: WebSocket code, unchanged but for the constructor.
function useLikeWebSocket(ws: TetherSocket): void {
  ws.onopen = () => ws.send(JSON.stringify({ type: 'join', payload: { roomId: 'lobby' } }));
  ws.onmessage = (event) => {
    if (typeof event.data === 'string') console.log(JSON.parse(event.data));
  };
  ws.onerror = (event: Event) => console.warn(event.type);
  ws.onclose = (event: CloseEvent) => console.log(event.code, event.reason, event.wasClean);
  if (ws.readyState === ws.OPEN && ws.bufferedAmount === 0) ws.send(new Uint8Array([1, 2, 3]));
  console.log(ws.url, ws.protocol, ws.extensions, ws.binaryType);
}

const socket = new TetherSocket('/ws', options);
const withProtocols = new TetherSocket(new URL('wss://chat.example/ws'), 'chat', { heartbeat: false });
const fromFunction = new TetherSocket(async () => `wss://chat.example/ws?token=${await Promise.resolve('t')}`);
const withToken = new TetherSocket('/ws', { token: () => 'a token at hand' });
useLikeWebSocket(socket);
// Every member of WebSocket is on TetherSocket with a compatible type; only the handlers' `this`
// differs (a TetherSocket).
type WebSocketSurface = Omit<WebSocket, 'onopen' | 'onmessage' | 'onerror' | 'onclose' | 'addEventListener' | 'removeEventListener'>;
const surface: WebSocketSurface = socket;
console.log(surface.readyState);

const states: readonly number[] = [TetherSocket.CONNECTING, TetherSocket.OPEN, TetherSocket.CLOSING, TetherSocket.CLOSED];
const state: TetherSocketState = socket.state;
console.log(states, state, socket.readyState, socket.CONNECTING, socket.CLOSING, socket.CLOSED);

socket.binaryType = 'arraybuffer';
socket.addEventListener('message', (event: MessageEvent<TetherMessageData>) => {
  if (event.data instanceof ArrayBuffer) console.log(event.data.byteLength);
});
socket.addEventListener('reconnecting', (event: ReconnectingEvent) => console.log(event.attempt, event.delay));
socket.addEventListener('reconnected', () => socket.join('lobby'));
socket.addEventListener('heartbeattimeout', (event) => console.log(event.type));
socket.addEventListener('roomnotrecovered', (event: RoomNotRecoveredEvent) => console.log(event.roomId, event.reason));
const onState = (event: StateChangeEvent): void => console.log(event.state);
socket.addEventListener('statechange', onState);
socket.removeEventListener('statechange', onState);
socket.addEventListener('custom-event', (event: Event) => console.log(event));

socket.send('text');
socket.send(new ArrayBuffer(8));
socket.send(new Blob(['blob']));
socket.join('lobby');
socket.leave('lobby');

async function chat(): Promise<void> {
  try {
    const ack: TetherAck = await socket.request('message', { roomId: 'lobby', text: 'hi' }, { timeout: 5_000 });
    console.log(ack.id, ack.ok, ack.seq, ack.duplicate);
    await socket.request('ping');
    const page: TetherHistoryPage = await socket.history('lobby', { before: ack.seq, limit: 20 });
    for (const message of page.messages) console.log(message.seq, message.text);
    console.log(page.more);
  } catch (error) {
    const failure = error as TetherRequestError;
    if (failure.name === 'RefusedError') console.log(failure.code, failure.message);
  }
}
void chat();

socket.reconnect();
socket.close(1000, 'bye');
withProtocols.close();
fromFunction.close(4000);
withToken.close();
