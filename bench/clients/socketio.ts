// A Socket.IO client (socket.io-client, websocket transport only).
import { io } from "socket.io-client";
import { nowMicros, type SessionSpec } from "../api.js";
import type { Conn, Sink } from "./sink.js";

interface Message {
  data: { t: number };
}

/** Opens one socket; resolves once the server has put it in its key's room. */
export function openSocketIo(port: number, spec: SessionSpec, sink: Sink): Promise<Conn> {
  const socket = io(`http://127.0.0.1:${port}`, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    timeout: 30_000,
    query: { key: spec.key },
  });
  socket.on("bench", (message: Message) => sink.record(nowMicros(), message.data.t));
  return new Promise((resolve, reject) => {
    let ready = false;
    socket.once("ready", () => {
      ready = true;
      resolve({ close: () => socket.disconnect() });
    });
    socket.once("connect_error", (error) => {
      socket.disconnect();
      reject(error);
    });
    socket.on("disconnect", () => (ready ? sink.closed() : reject(new Error("disconnected"))));
  });
}
