/**
 * Issue 4's numbers: a notify's latency through Redis to a client on another
 * node, and how bus traffic to a node follows the keys its sessions listen to.
 * Node A notifies; node B, in another process, holds the client's stream.
 * Issue 10's: the same latency, and node A's notifies per second, with the
 * per-key history on (the default: one Lua script per notify) and off.
 *
 *   npm run bench:redis            (needs Redis on 127.0.0.1:6379, or REDIS_URL)
 */
import { fork } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { defineNotifier } from "../protocol/contract.js";
import { createHub } from "../server/index.js";
import { redisBus } from "../server/redis.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const COUNT = Number(process.env.COUNT ?? 3_000);
const KEYS = 1_000;
const bench = defineNotifier<string, { t: number }>("bench");

if (process.argv[2] === "node-b") {
  // Node B: a hub on Redis that counts the topic messages the bus hands it.
  let received = 0;
  const bus = redisBus({ url: REDIS_URL, prefix: process.env.PREFIX });
  const subscribe = bus.subscribe.bind(bus);
  bus.subscribe = (channel, onMessage) =>
    subscribe(channel, (message) => {
      received += 1;
      onMessage(message);
    });
  const history = process.env.HISTORY === "off" ? { history: false as const } : {};
  const hub = createHub({ bus, maxKeysPerSession: 2 * KEYS, onError: () => {}, ...history });
  hub.notifier(bench);
  const app = express();
  app.use("/notif", hub.router());
  app.get("/received", (_req, res) => {
    res.json({ received });
  });
  const server = http.createServer(app).listen(0, "127.0.0.1", () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
  process.on("disconnect", () => process.exit(0));
} else {
  await main();
}

async function main(): Promise<void> {
  for (const history of ["on", "off"] as const) await run(history, history === "on");
}

/** One run: node B in a child process, node A here, both with history on or off. */
async function run(history: "on" | "off", traffic: boolean): Promise<void> {
  const prefix = `bench:${Date.now().toString(36)}:`;
  const child = fork(new URL(import.meta.url), ["node-b"], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, PREFIX: prefix, HISTORY: history },
  });
  const port = await new Promise<number>((resolve) =>
    child.once("message", (m) => resolve((m as { port: number }).port)),
  );
  const b = `http://127.0.0.1:${port}`;
  const hub = createHub({
    bus: redisBus({ url: REDIS_URL, prefix }),
    onError: () => {},
    ...(history === "off" ? { history: false as const } : {}),
  });
  const a = hub.notifier(bench);
  const stream = await openStream(`${b}/notif/events`);

  await post(`${b}/notif/listen`, { session: stream.session, notifier: "bench", key: "hot" });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const latencies: number[] = [];
  stream.onEvent = (data) => latencies.push(performance.timeOrigin + performance.now() - data.t);
  for (let i = 0; i < COUNT; i += 1) {
    await a.notify("hot", { t: performance.timeOrigin + performance.now() });
    await new Promise((resolve) => setTimeout(resolve, 1)); // paced, not a burst
  }
  await until(() => latencies.length >= COUNT);
  latencies.sort((x, y) => x - y);
  const pick = (q: number) => (latencies[Math.floor(q * (latencies.length - 1))] ?? 0).toFixed(2);
  console.log(`history ${history}:`);
  console.log(`notify on node A → client on node B through Redis, ${COUNT} paced notifies:`);
  console.log(`  p50 ${pick(0.5)} ms   p99 ${pick(0.99)} ms   max ${pick(1)} ms`);
  await throughput(a, latencies);
  if (traffic) await busTraffic(a, b, stream, latencies);
  stream.close();
  await hub.close();
  child.kill();
}

/** Node A's notifies per second, 64 in flight at a time, until all reached node B's client. */
async function throughput(
  a: { notify(key: string, value: { t: number }): Promise<void> },
  seen: number[],
) {
  const total = 20_000;
  const start = performance.now();
  const before = seen.length;
  for (let i = 0; i < total; i += 64) {
    const batch = Array.from({ length: Math.min(64, total - i) }, () => a.notify("hot", { t: 0 }));
    await Promise.all(batch);
  }
  const acked = performance.now() - start;
  await until(() => seen.length >= before + total);
  const delivered = performance.now() - start;
  const rate = (ms: number) => Math.round((total / ms) * 1_000).toLocaleString("en");
  console.log(
    `${total} notifies, 64 in flight: ${rate(acked)} notifies/s accepted, ${rate(delivered)}/s delivered on node B`,
  );
}

async function busTraffic(
  a: { notify(key: string, value: { t: number }): Promise<void> },
  b: string,
  stream: Stream,
  latencies: number[],
) {
  console.log(`\nbus traffic to node B while node A notifies each of ${KEYS} keys once:`);
  let listened = 1; // "hot"
  for (const target of [1, 10, 100, 1_000]) {
    const items = [];
    for (; listened < target + 1; listened += 1)
      items.push({ notifier: "bench", key: `k${listened - 1}` });
    for (let i = 0; i < items.length; i += 100) {
      await post(`${b}/notif/listen`, { session: stream.session, items: items.slice(i, i + 100) });
    }
    const before = (await (await fetch(`${b}/received`)).json()) as { received: number };
    for (let k = 0; k < KEYS; k += 1) await a.notify(`k${k}`, { t: 0 });
    await a.notify("hot", { t: 0 }); // a marker: once it is in, every earlier message is
    const seen = latencies.length;
    await until(() => latencies.length > seen);
    const after = (await (await fetch(`${b}/received`)).json()) as { received: number };
    console.log(
      `  listening to ${String(target).padStart(4)} keys: ${after.received - before.received - 1} messages`,
    );
  }
  console.log("");
}

async function post(url: string, body: object): Promise<void> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 204) throw new Error(`${url}: ${res.status} ${await res.text()}`);
}

async function until(check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Stream {
  session: string;
  onEvent: (data: { t: number }) => void;
  close(): void;
}

function openStream(url: string): Promise<Stream> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.setEncoding("utf8");
      let buffer = "";
      const stream: Stream = { session: "", onEvent: () => {}, close: () => req.destroy() };
      res.on("data", (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!data) continue;
          const parsed = JSON.parse(data);
          if (block.includes("event: session")) {
            stream.session = parsed.session;
            resolve(stream);
          } else stream.onEvent(parsed.data);
        }
      });
    });
  });
}
