// A Socket.IO 4 chat server with the guide's rooms: the events and payloads of the guide's
// protocol (`join`/`leave`/`message`/`typing` in; `joined`, `user:joined`, `user:left`,
// `message`, `typing` out), on Socket.IO's rooms and `socket.to(room).emit` broadcast, as the
// guide's Socket.IO section writes it. WebSocket transport only (no long-polling), logging off.
// It listens on 127.0.0.1 at the port given as the first argument (0 picks a free one) and prints
// `listening PORT` once ready. A `message` sent with an ack (`emitWithAck`) is acked once it has
// been broadcast.
//
// With SOCKETIO_RECOVERY=1, Socket.IO's connection-state recovery is on, with its documented
// defaults: a client whose connection dropped and that comes back within 2 minutes, presenting
// its session id and the offset of the last broadcast it received, gets its id, its rooms and
// the broadcasts it missed back. The server keeps them in memory.
//
// With SOCKETIO_REDIS_URL=redis://127.0.0.1:PORT/, the server is one node of several on that
// Redis, as Socket.IO's documentation sets them up: `@socket.io/redis-adapter` with two `redis`
// clients (one publishes, one subscribes). A broadcast is delivered to this node's members and
// published for the other nodes, which deliver it to theirs. `joined`'s `members` then counts
// this node's members of the room only (the adapter's rooms are local; asking every node is a
// round trip through Redis).
//
//   node socketio-server.js 18602
//   SOCKETIO_RECOVERY=1 node socketio-server.js 18602
//   SOCKETIO_REDIS_URL=redis://127.0.0.1:16390/ node socketio-server.js 18603
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] ?? 3000);
const recovery = process.env.SOCKETIO_RECOVERY === '1';
const redisUrl = process.env.SOCKETIO_REDIS_URL;
const httpServer = http.createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  pingInterval: 25000,
  pingTimeout: 20000,
  ...(recovery && {
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true }
  })
});

io.on('connection', (socket) => {
  socket.on('join', ({ roomId }) => {
    socket.join(roomId);
    socket.emit('joined', { roomId, members: io.sockets.adapter.rooms.get(roomId).size });
    socket.to(roomId).emit('user:joined', { userId: socket.id, roomId });
  });

  socket.on('leave', ({ roomId }) => {
    socket.leave(roomId);
    io.to(roomId).emit('user:left', { userId: socket.id, roomId });
  });

  socket.on('message', ({ roomId, text }, ack) => {
    socket.to(roomId).emit('message', {
      from: socket.id,
      roomId,
      text,
      timestamp: Date.now()
    });
    if (typeof ack === 'function') {
      ack({ ok: true });
    }
  });

  socket.on('typing', ({ roomId }) => {
    socket.to(roomId).emit('typing', { userId: socket.id, roomId });
  });

  // Socket.IO leaves the rooms by itself; tell their members, as the guide's server does.
  socket.on('disconnecting', () => {
    for (const roomId of socket.rooms) {
      if (roomId !== socket.id) {
        socket.to(roomId).emit('user:left', { userId: socket.id, roomId });
      }
    }
  });
});

// Listens only once the adapter's clients are connected, so that the first broadcast already
// reaches the other nodes.
async function start() {
  if (redisUrl) {
    const { createClient } = require('redis');
    const { createAdapter } = require('@socket.io/redis-adapter');
    const pubClient = createClient({ url: redisUrl });
    const subClient = pubClient.duplicate();
    for (const client of [pubClient, subClient]) {
      client.on('error', (err) => console.error(`redis: ${err.message}`));
    }
    await Promise.all([pubClient.connect(), subClient.connect()]);
    io.adapter(createAdapter(pubClient, subClient));
  }
  httpServer.listen(port, '127.0.0.1', () => {
    console.log(`listening ${httpServer.address().port}`);
  });
}

start().catch((err) => {
  console.error(err);
  process.exit(1);
});
