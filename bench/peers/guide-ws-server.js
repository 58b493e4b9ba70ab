// The guide's chat server ("채팅 서버 (Node.js + ws)"), as the guide writes it, with two changes
// for benchmarking: it listens on 127.0.0.1 at the port given as the first argument (0 picks a
// free one) and prints `listening PORT` once ready, and its per-connection logging is off.
//
//   node guide-ws-server.js 18601
'use strict';
const WebSocket = require('ws');
const { v4: uuidv4 } = require('uuid');

const port = Number(process.argv[2] ?? 8080);
const wss = new WebSocket.Server({ host: '127.0.0.1', port });
wss.on('listening', () => console.log(`listening ${wss.address().port}`));

// Connected clients and rooms.
const clients = new Map();
const rooms = new Map();

wss.on('connection', (ws) => {
  const clientId = uuidv4();
  clients.set(ws, { id: clientId, rooms: new Set() });

  send(ws, {
    type: 'connected',
    payload: { clientId }
  });

  ws.on('message', (message) => {
    try {
      const { type, payload } = JSON.parse(message);
      handleMessage(ws, type, payload);
    } catch (error) {
      send(ws, { type: 'error', payload: { message: 'Invalid message format' } });
    }
  });

  ws.on('close', () => {
    const client = clients.get(ws);
    if (client) {
      client.rooms.forEach((roomId) => {
        leaveRoom(ws, roomId);
      });
      clients.delete(ws);
    }
  });

  ws.on('pong', () => {
    const client = clients.get(ws);
    if (client) {
      client.isAlive = true;
    }
  });
});

function handleMessage(ws, type, payload) {
  const client = clients.get(ws);

  switch (type) {
    case 'join':
      joinRoom(ws, payload.roomId);
      break;

    case 'leave':
      leaveRoom(ws, payload.roomId);
      break;

    case 'message':
      broadcastToRoom(payload.roomId, {
        type: 'message',
        payload: {
          from: client.id,
          roomId: payload.roomId,
          text: payload.text,
          timestamp: Date.now()
        }
      }, ws);
      break;

    case 'typing':
      broadcastToRoom(payload.roomId, {
        type: 'typing',
        payload: { userId: client.id, roomId: payload.roomId }
      }, ws);
      break;
  }
}

function joinRoom(ws, roomId) {
  const client = clients.get(ws);

  if (!rooms.has(roomId)) {
    rooms.set(roomId, new Set());
  }

  rooms.get(roomId).add(ws);
  client.rooms.add(roomId);

  send(ws, {
    type: 'joined',
    payload: { roomId, members: rooms.get(roomId).size }
  });

  broadcastToRoom(roomId, {
    type: 'user:joined',
    payload: { userId: client.id, roomId }
  }, ws);
}

function leaveRoom(ws, roomId) {
  const client = clients.get(ws);
  const room = rooms.get(roomId);

  if (room) {
    room.delete(ws);
    client.rooms.delete(roomId);

    broadcastToRoom(roomId, {
      type: 'user:left',
      payload: { userId: client.id, roomId }
    });

    if (room.size === 0) {
      rooms.delete(roomId);
    }
  }
}

function broadcastToRoom(roomId, message, excludeWs = null) {
  const room = rooms.get(roomId);
  if (!room) return;

  const messageStr = JSON.stringify(message);
  room.forEach((ws) => {
    if (ws !== excludeWs && ws.readyState === WebSocket.OPEN) {
      ws.send(messageStr);
    }
  });
}

function send(ws, message) {
  if (ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify(message));
  }
}

// Heartbeat, every 30 s: a client that did not answer the last ping is terminated.
const HEARTBEAT_INTERVAL = 30000;
const heartbeatInterval = setInterval(() => {
  wss.clients.forEach((ws) => {
    const client = clients.get(ws);
    if (!client || client.isAlive === false) {
      clients.delete(ws);
      return ws.terminate();
    }
    client.isAlive = false;
    ws.ping();
  });
}, HEARTBEAT_INTERVAL);

wss.on('close', () => {
  clearInterval(heartbeatInterval);
});
