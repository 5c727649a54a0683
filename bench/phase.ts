// One measured phase (a burst or a paced series): the server notifies, the
// clients count, and CPU is sampled around it on every side.
import { setTimeout as sleep } from "node:timers/promises";
import { nowMicros, type Receipts, type ServerApi, type Usage, type WorkerApi } from "./api.js";
import { type HostCpu, hostCpu, ownCpu } from "./hostcpu.js";
import type { Child } from "./procs.js";
import { Histogram, latencyMs } from "./stats.js";

/** What one phase (a burst or a paced series) measured. */
export interface PhaseResult {
  notifies: number;
  expected: number;
  delivered: number;
  /** From the first notify to the last receipt, s. */
  seconds: number;
  /** Delivered notifications per second. */
  rate: number;
  p50: number;
  p99: number;
  /** Server CPU (user + system) per delivered notification, µs. */
  cpuPerDelivery: number;
  /** Share of one core used, over the phase, %. */
  serverCpu: number;
  clientCpu: number;
  /** CPU taken by processes outside the benchmark, % of one core: over ~10, figures are disturbed. */
  foreignCpu: number;
  /** Kernel irq and softirq time (loopback TCP), % of one core. */
  irqCpu: number;
  serverRss: number;
}

const STALL_MS = 3_000;
const PHASE_LIMIT_MS = 120_000;

export type Workers = Child<WorkerApi>[];

/** Calls every worker at once. */
export async function eachWorker<T>(
  workers: Workers,
  f: (w: Child<WorkerApi>, i: number) => Promise<T>,
) {
  return Promise.all(workers.map(f));
}

/** Waits until `expected` notifications arrived, or nothing more comes. */
async function awaitDelivery(workers: Workers, expected: number): Promise<void> {
  const deadline = Date.now() + PHASE_LIMIT_MS;
  let seen = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    const progress = await eachWorker(workers, (w) => w.api.call("progress", {}));
    const received = progress.reduce((sum, p) => sum + p.received, 0);
    if (received >= expected) return;
    if (received !== seen) [seen, since] = [received, Date.now()];
    else if (Date.now() - since > STALL_MS) return;
    await sleep(100);
  }
}

/** What was sampled around one phase. */
interface Samples {
  window: { start: number; notifies: number };
  expected: number;
  server: [Usage, Usage];
  receipts: Receipts[];
  host: [HostCpu, HostCpu];
  /** This process's CPU over the phase, µs, and the phase's wall time, µs. */
  own: number;
  wall: number;
}

function phaseResult({
  window,
  expected,
  server,
  receipts,
  host,
  own,
  wall,
}: Samples): PhaseResult {
  const latency = new Histogram();
  for (const r of receipts) latency.merge(r.latency);
  const delivered = receipts.reduce((sum, r) => sum + r.received, 0);
  const last = Math.max(window.start, ...receipts.map((r) => r.last));
  const micros = Math.max(1, last - window.start);
  const serverMicros = server[1].user + server[1].system - server[0].user - server[0].system;
  const clientMicros = receipts.reduce((sum, r) => sum + r.cpu, 0);
  const foreign = host[1].busy - host[0].busy - serverMicros - clientMicros - own;
  return {
    notifies: window.notifies,
    expected,
    delivered,
    seconds: micros / 1e6,
    rate: delivered / (micros / 1e6),
    ...latencyMs(latency),
    cpuPerDelivery: delivered > 0 ? serverMicros / delivered : Number.NaN,
    serverCpu: (100 * serverMicros) / micros,
    clientCpu: (100 * clientMicros) / micros,
    foreignCpu: Math.max(0, (100 * foreign) / wall),
    irqCpu: (100 * (host[1].irq - host[0].irq)) / wall,
    serverRss: server[1].rss,
  };
}

/** Runs one measured phase: `fire` makes the server notify, clients count. */
export async function phase(
  server: Child<ServerApi>,
  workers: Workers,
  perNotify: number,
  fire: () => Promise<{ start: number; notifies: number }>,
): Promise<PhaseResult> {
  await eachWorker(workers, (w) => w.api.call("reset", {}));
  const before = await server.api.call("usage", { gc: true });
  const [host0, own0, wall0] = [hostCpu(), ownCpu(), nowMicros()];
  const window = await fire();
  const expected = window.notifies * perNotify;
  await awaitDelivery(workers, expected);
  const after = await server.api.call("usage", { gc: false });
  const receipts = await eachWorker(workers, (w) => w.api.call("collect", {}));
  return phaseResult({
    window,
    expected,
    server: [before, after],
    receipts,
    host: [host0, hostCpu()],
    own: ownCpu() - own0,
    wall: nowMicros() - wall0,
  });
}
