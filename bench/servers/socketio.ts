// Socket.IO rooms, websocket transport only: one room per key.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { type BenchServer, runBenchServer } from "./common.js";

async function makeSocketIo(): Promise<BenchServer> {
  const server = createServer();
  const io = new Server(server, {
    transports: ["websocket"],
    serveClient: false,
    perMessageDeflate: false,
  });
  io.on("connection", (socket) => {
    const key = socket.handshake.query.key;
    if (typeof key !== "string") {
      socket.disconnect(true);
      return;
    }
    void socket.join(key);
    socket.emit("ready");
  });
  return {
    server,
    notify(key, value) {
      io.to(key).emit("bench", { key, data: value });
    },
    sessions: () => io.engine.clientsCount,
  };
}

runBenchServer(makeSocketIo);
