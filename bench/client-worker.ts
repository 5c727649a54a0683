// A client process: opens many sessions on one system, records the latency of
// every notification it receives, and answers the orchestrator over IPC.
import { type ClientKind, fdLimit, type SessionSpec, type WorkerApi } from "./api.js";
import { openH2 } from "./clients/h2.js";
import type { Conn, Sink } from "./clients/sink.js";
import { openSocketIo } from "./clients/socketio.js";
import { openSse } from "./clients/sse.js";
import { serveParent } from "./ipc.js";
import { Histogram } from "./stats.js";

const conns: Conn[] = [];
let open = 0;
let latency = new Histogram();
let received = 0;
let first = 0;
let last = 0;
let cpuAtReset = 0;

const sink: Sink = {
  record(now, t) {
    if (received === 0) first = now;
    received++;
    last = now;
    latency.record(now - t);
  },
  closed() {
    open--;
  },
};

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

function openOne(kind: ClientKind, port: number, spec: SessionSpec): Promise<Conn> {
  switch (kind) {
    case "sse":
      return openSse(port, spec, sink, false);
    case "ssenotif":
      return openSse(port, spec, sink, true);
    case "h2":
      return openH2(port, spec, sink);
    case "socketio":
      return openSocketIo(port, spec, sink);
  }
}

/** Opens all sessions, at most `concurrency` connecting at once. */
async function connect(
  kind: ClientKind,
  port: number,
  sessions: SessionSpec[],
  concurrency: number,
) {
  let next = 0;
  let failed = 0;
  const errors: string[] = [];
  let ready = 0;
  // The whole first wave failed: the server is not answering, stop trying.
  const hopeless = () => ready === 0 && failed >= concurrency;
  async function lane() {
    for (let i = next++; i < sessions.length && !hopeless(); i = next++) {
      const spec = sessions[i];
      if (!spec) continue;
      try {
        conns.push(await openOne(kind, port, spec));
        open++;
        ready++;
      } catch (error) {
        failed++;
        if (errors.length < 5) errors.push(String(error));
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { ready, failed: sessions.length - ready, errors };
}

serveParent<WorkerApi>({
  hello: async () => ({ fdLimit: fdLimit() }),
  connect: async ({ kind, port, sessions, concurrency }) =>
    connect(kind, port, sessions, concurrency),
  reset: async () => {
    latency = new Histogram();
    received = 0;
    first = 0;
    last = 0;
    cpuAtReset = cpuMicros();
    return {};
  },
  progress: async () => ({ received, open }),
  collect: async () => ({
    received,
    first,
    last,
    latency: latency.toJSON(),
    cpu: cpuMicros() - cpuAtReset,
    open,
  }),
  close: async () => {
    for (const conn of conns.splice(0)) conn.close();
    return {};
  },
});
