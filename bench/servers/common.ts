// The part every server under test shares: its IPC control interface (burst,
// paced series, usage), so that each adapter only says how to notify.
import type { AddressInfo, Server } from "node:net";
import { setTimeout as sleep, setImmediate as yieldToIo } from "node:timers/promises";
import { writeHeapSnapshot } from "node:v8";
import { fdLimit, keyName, nowMicros, type Payload, type ServerApi, type Usage } from "../api.js";
import { serveParent } from "../ipc.js";
import { profiled } from "./profile.js";

/** One system under test, listening on 127.0.0.1. */
export interface BenchServer {
  server: Server;
  /** Sends `value` to every session listening on `key`. */
  notify(key: string, value: Payload): void | Promise<void>;
  /** Sessions held, by the system's own count. */
  sessions(): number;
}

/** Command-line flags of a server process. */
export interface ServerFlags {
  /** sse-notif only: a per-identity `prepare` on the notifier. */
  prepare: boolean;
}

// About 100 bytes of JSON in all: {"t":8726345123,"n":123,"pad":"…"}.
const PAD = "x".repeat(64);

function payload(n: number): Payload {
  return { t: Math.round(nowMicros()), n, pad: PAD };
}

function randomKey(keys: number): string {
  return keyName(keys === 1 ? 0 : Math.floor(Math.random() * keys));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", 4096, resolve);
  });
  return (server.address() as AddressInfo).port;
}

function usage(bench: BenchServer, gc: boolean): Usage {
  if (gc && globalThis.gc) {
    globalThis.gc();
    globalThis.gc();
  }
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return { ...cpu, rss: mem.rss, heapUsed: mem.heapUsed, sessions: bench.sessions() };
}

/** Notifies as fast as the server can, `perTick` at a time between I/O turns. */
async function burst(bench: BenchServer, notifies: number, keys: number, perTick: number) {
  const start = nowMicros();
  let n = 0;
  while (n < notifies) {
    const batch: (void | Promise<void>)[] = [];
    for (let i = 0; i < perTick && n < notifies; i++)
      batch.push(bench.notify(randomKey(keys), payload(n++)));
    await Promise.all(batch);
    await yieldToIo();
  }
  return { start, end: nowMicros() };
}

/** Notifies at `rate` per second for `seconds`, the k-th at start + k / rate. */
async function paced(bench: BenchServer, rate: number, seconds: number, keys: number) {
  const total = Math.max(1, Math.round(rate * seconds));
  const start = nowMicros();
  let n = 0;
  while (n < total) {
    const due = Math.min(total, Math.floor(((nowMicros() - start) / 1e6) * rate) + 1);
    const batch: (void | Promise<void>)[] = [];
    while (n < due) batch.push(bench.notify(randomKey(keys), payload(n++)));
    await Promise.all(batch);
    const wait = (start + (n / rate) * 1e6 - nowMicros()) / 1e3;
    if (wait > 0) await sleep(wait);
  }
  return { start, end: nowMicros(), notifies: total };
}

/** Starts a system and serves the orchestrator's calls until it disconnects. */
export function runBenchServer(make: (flags: ServerFlags) => Promise<BenchServer>): void {
  const flags: ServerFlags = { prepare: process.argv.includes("--prepare") };
  const ready = make(flags).then(async (bench) => ({ bench, port: await listen(bench.server) }));
  ready.catch((error: unknown) => {
    console.error("bench server failed to start:", error);
    process.exit(1);
  });
  serveParent<ServerApi>({
    hello: async () => ({ port: (await ready).port, fdLimit: fdLimit() }),
    usage: async ({ gc }) => usage((await ready).bench, gc),
    snapshot: async ({ path }) => {
      usage((await ready).bench, true);
      return { path: writeHeapSnapshot(path) };
    },
    burst: async ({ notifies, keys, perTick }) => {
      const { bench } = await ready;
      return profiled(() => burst(bench, notifies, keys, perTick));
    },
    paced: async ({ rate, seconds, keys }) => paced((await ready).bench, rate, seconds, keys),
  });
}
