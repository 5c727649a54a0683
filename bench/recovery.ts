/**
 * Issue 10's recovery numbers, with real node processes on Redis, a TCP
 * proxy in front of them, and 1,000 real sse-notif clients in two processes:
 *
 * - death: the clients' node is SIGKILLed while the other node notifies
 *   `missed` times on every key; the proxy sends the clients to the other
 *   node, where they recover by position. Recovery time: from the kill until
 *   every client has every missed notification; replay throughput: missed
 *   notifications delivered per second, first to last.
 * - storm: the clients' only node is SIGKILLed and started again; time until
 *   every client listens again, and the peak GET /events and POST /listen per
 *   second the new node serves, with and without jitter.
 *
 *   npm run bench:recovery [-- --clients 1000 --keys 20 --missed 50]
 * Needs Redis on 127.0.0.1:6379 (or REDIS_URL).
 */
import { parseArgs } from "node:util";
import { TcpProxy } from "../test/fixtures/proxy.js";
import { type Child, startNode } from "./procs.js";
import type { ClientSummary, ClientsApi, NodeApi } from "./recovery/api.js";

const { values: args } = parseArgs({
  options: {
    clients: { type: "string", default: "1000" },
    keys: { type: "string", default: "20" },
    missed: { type: "string", default: "50" },
  },
});
const CLIENTS = Number(args.clients);
const KEYS = Array.from({ length: Number(args.keys) }, (_, i) => `k${i}`);
const MISSED = Number(args.missed);
const WORKERS = 2;
process.env.REDIS_URL ??= "redis://127.0.0.1:6379";

interface Reconnect {
  readonly retry: number;
  readonly jitter: boolean;
}

async function node(
  prefix: string,
  label: string,
): Promise<{ child: Child<NodeApi>; port: number }> {
  process.env.PREFIX = prefix; // inherited by the child
  const child = startNode<NodeApi>("bench/recovery/node.ts", [], undefined, label);
  return { child, port: await child.api.call("port", null) };
}

async function clients(url: string, reconnect: Reconnect): Promise<Child<ClientsApi>[]> {
  const workers = Array.from({ length: WORKERS }, (_, i) =>
    startNode<ClientsApi>("bench/recovery/clients.ts", [], undefined, `clients ${i}`),
  );
  const count = Math.ceil(CLIENTS / WORKERS);
  await Promise.all(
    workers.map((w) => w.api.call("start", { url, count, keys: KEYS, ...reconnect }, 120_000)),
  );
  return workers;
}

async function collect(workers: Child<ClientsApi>[], target: number, relisten: boolean) {
  const parts = await Promise.all(
    workers.map((w) => w.api.call("collect", { target, relisten, ms: 90_000 }, 120_000)),
  );
  return parts.flat();
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};

/** Most timestamps in any one-second window. */
function peakPerSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi += 1) {
    while ((sorted[hi] as number) - (sorted[lo] as number) >= 1_000) lo += 1;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

function outcome(all: ClientSummary[]): string {
  const exact = all.filter((s) => s.exact).length;
  const recovered = all.filter((s) => s.recovered).length;
  const gaps = all.filter((s) => s.gap).length;
  return `${exact}/${all.length} exact (once, in order), ${recovered} recovered, ${gaps} gap`;
}

async function death(reconnect: Reconnect): Promise<string> {
  const prefix = `bench-rec:${Date.now().toString(36)}:`;
  const [a, b] = await Promise.all([node(prefix, "node A"), node(prefix, "node B")]);
  const proxy = await TcpProxy.start(a.port);
  const workers = await clients(`${proxy.origin}/notif`, reconnect);
  try {
    await b.child.api.call("notify", { keys: KEYS, from: 0, count: 1 });
    await collect(workers, 1, false);
    const at = Date.now();
    await Promise.all(workers.map((w) => w.api.call("mark", { at })));
    proxy.point(b.port);
    a.child.process.kill("SIGKILL");
    const sent = await b.child.api.call("notify", { keys: KEYS, from: 1, count: MISSED });
    const all = await collect(workers, 1 + MISSED, true);
    const caught = all.map((s) => (s.caughtUp ?? Number.NaN) - at);
    const firsts = all.map((s) => s.first ?? Number.NaN);
    const last = Math.max(...all.map((s) => s.caughtUp ?? Number.NaN));
    const rate = (all.length * MISSED) / ((last - Math.min(...firsts)) / 1_000);
    return [
      `death, retry ${reconnect.retry} ms${reconnect.jitter ? "" : " without jitter"}:`,
      `${KEYS.length * MISSED} notifies in ${(sent.ms / 1_000).toFixed(2)} s while away;`,
      `all caught up ${(last - at).toFixed(0)} ms after the kill (p50 ${quantile(caught, 0.5).toFixed(0)} ms);`,
      `replayed ${Math.round(rate)} missed notifications/s; ${outcome(all)}`,
    ].join(" ");
  } finally {
    await Promise.all([...workers.map((w) => w.stop()), b.child.stop(), proxy.close()]);
  }
}

async function storm(reconnect: Reconnect): Promise<string> {
  const prefix = `bench-storm:${Date.now().toString(36)}:`;
  const a = await node(prefix, "node A");
  const proxy = await TcpProxy.start(a.port);
  const workers = await clients(`${proxy.origin}/notif`, reconnect);
  try {
    const at = Date.now();
    await Promise.all(workers.map((w) => w.api.call("mark", { at })));
    proxy.point(); // nothing behind the proxy while the node restarts
    a.child.process.kill("SIGKILL");
    const again = await node(prefix, "node A again");
    const up = Date.now();
    proxy.point(again.port);
    const all = await collect(workers, 0, true);
    const { events, listens } = await again.child.api.call("requests", null);
    const last = Math.max(...all.map((s) => s.relistened ?? Number.NaN));
    const stop = Promise.all([...workers.map((w) => w.stop()), again.child.stop(), proxy.close()]);
    await stop;
    return [
      `storm, retry ${reconnect.retry} ms${reconnect.jitter ? ", jitter" : ", no jitter"}:`,
      `node up again ${up - at} ms after the kill; all ${all.length} listening again`,
      `${last - at} ms after the kill (${last - up} ms after it was up);`,
      `peak ${peakPerSecond(events)} GET /events/s and ${peakPerSecond(listens)} POST /listen/s`,
      `(${events.length} GET, ${listens.length} POST in all); ${outcome(all)}`,
    ].join(" ");
  } catch (error) {
    await Promise.all([...workers.map((w) => w.stop()), proxy.close()]);
    throw error;
  }
}

console.log(
  `${CLIENTS} clients in ${WORKERS} processes, ${KEYS.length} keys; the machine may be shared`,
);
for (const reconnect of [
  { retry: 2_000, jitter: true },
  { retry: 100, jitter: true },
])
  console.log(await death(reconnect));
for (const reconnect of [
  { retry: 2_000, jitter: true },
  { retry: 2_000, jitter: false },
])
  console.log(await storm(reconnect));
process.exit(0);
