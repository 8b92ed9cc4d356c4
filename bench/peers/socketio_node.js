// Node socket.io 4 peer with @socket.io/redis-adapter, set up as the adapter's README shows.
//
//     node bench/peers/socketio_node.js PORT REDIS_URL
//
// Events mirror chatserver's frames: "hello" and "join" are answered through acknowledgements
// (welcome/joined); "send" is acknowledged to the sender and emitted to the room as "message" through the
// Redis adapter (published to Redis, delivered by every server's subscriber).
"use strict";

const { createServer } = require("http");
const { randomBytes } = require("crypto");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
  const port = Number(process.argv[2]);
  const redisUrl = process.argv[3];
  const pubClient = createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  await Promise.all([pubClient.connect(), subClient.connect()]);

  const httpServer = createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pubClient, subClient) });
  const host = randomBytes(4).toString("hex");
  const seqs = new Map();
  let ids = 0;

  io.on("connection", (socket) => {
    socket.on("hello", (data, ack) => {
      socket.data.name = String(data.name || "").slice(0, 32);
      ack({ type: "welcome", session: socket.id, name: socket.data.name, role: "participant" });
    });
    socket.on("join", (data, ack) => {
      const room = String(data.room);
      socket.join(room);
      ack({ type: "joined", room, title: room, history: [] });
    });
    socket.on("send", (data, ack) => {
      const room = String(data.room);
      const seq = (seqs.get(room) || 0) + 1;
      seqs.set(room, seq);
      const id = `${host}-${++ids}`;
      io.to(room).emit("message", {
        room,
        id,
        seq,
        from: { name: socket.data.name, session: socket.id, role: "participant" },
        text: String(data.text),
        ts: Date.now() / 1000,
      });
      ack({ type: "ack", client_id: data.client_id, id, status: "published" });
    });
  });

  httpServer.listen(port, "127.0.0.1");
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      io.close();
      pubClient.quit().catch(() => {});
      subClient.quit().catch(() => {});
      process.exit(0);
    });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
