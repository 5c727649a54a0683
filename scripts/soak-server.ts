/**
 * The soak's server process (started by scripts/soak.ts): a hub on Express,
 * notifying `{g}` on random keys at SOAK_RATE per second, g counting up over
 * all keys, and remembering the key of every g. POSTs to /notif/listen and
 * /notif/unlisten answer with `x-soak-g0` (g when the request came in) and
 * `x-soak-g1` (g when it was answered), so that clients know which notifies
 * they must get. Run with --expose-gc: /soak/mem measures after a full gc.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { defineNotifier } from "../protocol/contract.js";
import { createHub } from "../server/index.js";

const rate = Number(process.env.SOAK_RATE ?? 200);
const keys = Number(process.env.SOAK_KEYS ?? 500);

const hub = createHub({
  retention: Number(process.env.SOAK_RETENTION ?? 50),
  onError: (error, context) => console.error("soak server:", error, context),
});
const soak = hub.notifier(defineNotifier<string, { g: number }>("soak"));

/** log[g - 1] = the key index notified with g. */
const log: number[] = [];
let notifying = true;
const tick = 10; // ms
let owed = 0;
setInterval(() => {
  if (!notifying) return;
  owed += (rate * tick) / 1_000;
  for (; owed >= 1; owed -= 1) {
    const key = Math.floor(Math.random() * keys);
    log.push(key);
    void soak.notify(`k${key}`, { g: log.length });
  }
}, tick);

const app = express();
app.use("/notif", (req, res, next) => {
  if (req.method !== "POST") return next();
  res.setHeader("x-soak-g0", String(log.length));
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => typeof res;
  res.writeHead = ((...args: unknown[]) => {
    res.setHeader("x-soak-g1", String(log.length)); // when the answer is made
    return writeHead(...args);
  }) as typeof res.writeHead;
  next();
});
app.use("/notif", hub.router());
app.get("/soak/mem", (_req, res) => {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed, external } = process.memoryUsage();
  res.json({
    rss,
    heapUsed,
    external,
    gc: typeof globalThis.gc === "function",
    g: log.length,
    stats: hub.stats(),
  });
});
app.post("/soak/stop", (_req, res) => {
  notifying = false;
  res.json({ g: log.length });
});
app.get("/soak/log", (_req, res) => {
  res.json(log);
});

const server = http.createServer(app);
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", 4_096, () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on("disconnect", () => process.exit(0));
