// better-sse channels on Express: one channel per key.
import { createServer } from "node:http";
import { type Channel, createChannel, createSession } from "better-sse";
import express from "express";
import { type BenchServer, runBenchServer } from "./common.js";

async function makeBetterSse(): Promise<BenchServer> {
  const channels = new Map<string, Channel>();
  let open = 0;
  const app = express();
  app.get("/events", async (req, res) => {
    const key = req.query.key;
    if (typeof key !== "string") {
      res.status(400).end();
      return;
    }
    const session = await createSession(req, res);
    const channel = channels.get(key) ?? createChannel();
    channels.set(key, channel);
    channel.register(session);
    open++;
    session.once("disconnected", () => open--);
    session.push(1, "ready");
  });
  return {
    server: createServer(app),
    notify(key, value) {
      channels.get(key)?.broadcast({ key, data: value }, "bench");
    },
    sessions: () => open,
  };
}

runBenchServer(makeBetterSse);
