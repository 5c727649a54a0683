// One run: a server process, its client workers, and the phases of a scenario.
import { setTimeout as sleep } from "node:timers/promises";
import {
  CLIENT_KIND,
  keyName,
  type ServerApi,
  type SessionSpec,
  type SystemName,
  type Usage,
  type WorkerApi,
} from "./api.js";
import type { Options, ScenarioName } from "./options.js";
import { eachWorker, type PhaseResult, phase, type Workers } from "./phase.js";
import { type Child, type Pinning, startNode } from "./procs.js";

/** What the idle scenario measured: memory per session held. */
export interface IdleResult {
  requested: number;
  held: number;
  rssPerSession: number;
  heapPerSession: number;
  before: Usage;
  after: Usage;
}

/** Everything one run (a system, a scenario, a size) measured. */
export interface RunResult {
  system: SystemName;
  scenario: ScenarioName;
  sessions: number;
  keys: number;
  connect: { ready: number; failed: number; seconds: number; errors: string[] };
  /** The burst shown: the least disturbed of `bursts`. */
  burst?: PhaseResult;
  bursts?: PhaseResult[];
  paced?: PhaseResult;
  idle?: IdleResult;
  error?: string;
}

interface Plan {
  system: SystemName;
  scenario: ScenarioName;
  sessions: SessionSpec[];
  keys: number;
}

/** Distinct identities in the prepare scenario. */
const USERS = 100;

function plan(system: SystemName, scenario: ScenarioName, count: number): Plan {
  const keys = scenario === "many" ? Math.max(1, Math.floor(count / 10)) : 1;
  const sessions = Array.from({ length: count }, (_, i) => ({
    key: keyName(i % keys),
    ...(scenario === "prepare" ? { user: `u${i % USERS}` } : {}),
  }));
  return { system, scenario, sessions, keys };
}

export interface Context {
  options: Options;
  pinning: Pinning;
}

function split(sessions: SessionSpec[], parts: number): SessionSpec[][] {
  return Array.from({ length: parts }, (_, p) => sessions.filter((_, i) => i % parts === p));
}

/** Sessions that fit the open-file limits the processes got, with the reason if fewer. */
async function fitFdLimits(server: Child<ServerApi>, workers: Workers, wanted: number) {
  const margin = 100;
  const { port, fdLimit } = await server.api.call("hello", {});
  const clients = await eachWorker(workers, (w) => w.api.call("hello", {}));
  const clientRoom = clients.reduce(
    (sum, c) => sum + (c.fdLimit < 0 ? wanted : c.fdLimit - margin),
    0,
  );
  const room = Math.min(fdLimit < 0 ? wanted : fdLimit - margin, clientRoom);
  if (room >= wanted) return { port, count: wanted };
  const note = `open-file limit (server ${fdLimit}, clients ${clients.map((c) => c.fdLimit)}) fits only ${room} of ${wanted} sessions: ulimit -Hn is too low and cannot be raised without CAP_SYS_RESOURCE`;
  return { port, count: Math.max(0, room), note };
}

async function connectAll(server: Child<ServerApi>, workers: Workers, p: Plan) {
  const { port, count, note } = await fitFdLimits(server, workers, p.sessions.length);
  if (note) console.warn(`  ${note}`);
  const started = Date.now();
  const shares = split(p.sessions.slice(0, count), workers.length);
  const results = await eachWorker(workers, (w, i) =>
    w.api.call(
      "connect",
      { kind: CLIENT_KIND[p.system], port, sessions: shares[i] ?? [], concurrency: 64 },
      180_000,
    ),
  );
  return {
    ready: results.reduce((sum, r) => sum + r.ready, 0),
    failed: results.reduce((sum, r) => sum + r.failed, 0),
    seconds: (Date.now() - started) / 1e3,
    errors: [...(note ? [note] : []), ...results.flatMap((r) => r.errors)].slice(0, 5),
  };
}

/** The burst other processes disturbed least; of those within 5 points, the fastest. */
function leastDisturbed(bursts: PhaseResult[]): PhaseResult | undefined {
  const calmest = Math.min(...bursts.map((b) => b.foreignCpu));
  const calm = bursts.filter((b) => b.foreignCpu <= calmest + 5);
  return calm.reduce<PhaseResult | undefined>((a, b) => (a && a.rate >= b.rate ? a : b), undefined);
}

async function loadPhases(
  ctx: Context,
  server: Child<ServerApi>,
  workers: Workers,
  p: Plan,
  ready: number,
) {
  const { burstDeliveries, pacedDeliveries, pacedSeconds } = ctx.options;
  const fanout = ready / p.keys;
  const notifies = Math.max(1, Math.round(burstDeliveries / fanout));
  const perTick = Math.max(1, Math.round(5_000 / fanout));
  const burst = (n: number) => () =>
    server.api
      .call("burst", { notifies: n, keys: p.keys, perTick })
      .then((w) => ({ ...w, notifies: n }));
  await phase(server, workers, fanout, burst(Math.ceil(notifies / 10))); // warm-up, not kept
  const bursts: PhaseResult[] = [];
  for (let i = 0; i < ctx.options.repeat; i++) {
    bursts.push(await phase(server, workers, fanout, burst(notifies)));
    await sleep(300);
  }
  const rate = pacedDeliveries / fanout;
  const pacedResult = await phase(server, workers, fanout, () =>
    server.api.call("paced", { rate, seconds: pacedSeconds, keys: p.keys }, 180_000),
  );
  return { burst: leastDisturbed(bursts), bursts, paced: pacedResult };
}

async function idlePhase(ctx: Context, server: Child<ServerApi>, workers: Workers, before: Usage) {
  await sleep(ctx.options.holdSeconds * 1e3);
  const after = await server.api.call("usage", { gc: true });
  const progress = await eachWorker(workers, (w) => w.api.call("progress", {}));
  const open = progress.reduce((sum, p) => sum + p.open, 0);
  const held = Math.min(open, after.sessions);
  const per = (a: number, b: number) => (held > 0 ? (a - b) / held : Number.NaN);
  return {
    requested: 0,
    held,
    rssPerSession: per(after.rss, before.rss),
    heapPerSession: per(after.heapUsed, before.heapUsed),
    before,
    after,
  };
}

/** Starts the processes of one run, measures, and always stops them. */
export async function runOne(
  ctx: Context,
  system: SystemName,
  scenario: ScenarioName,
  count: number,
): Promise<RunResult> {
  const p = plan(system, scenario, count);
  const flags = scenario === "prepare" ? ["--prepare"] : [];
  const server = startNode<ServerApi>(
    `bench/servers/${system}.ts`,
    flags,
    ctx.pinning.server,
    system,
  );
  const n = ctx.options.workers || Math.ceil(count / 5_000);
  const workers = Array.from({ length: n }, (_, i) =>
    startNode<WorkerApi>("bench/client-worker.ts", [], ctx.pinning.clients, `client ${i}`),
  );
  const result: RunResult = {
    system,
    scenario,
    sessions: count,
    keys: p.keys,
    connect: { ready: 0, failed: 0, seconds: 0, errors: [] },
  };
  try {
    const before = await server.api.call("usage", { gc: true });
    result.connect = await connectAll(server, workers, p);
    if (scenario === "idle") {
      result.idle = { ...(await idlePhase(ctx, server, workers, before)), requested: count };
    } else if (result.connect.ready > 0) {
      Object.assign(result, await loadPhases(ctx, server, workers, p, result.connect.ready));
    }
  } catch (error) {
    result.error = String(error);
  } finally {
    await Promise.allSettled(workers.map((w) => w.api.call("close", {}, 10_000)));
    await Promise.all([server.stop(), ...workers.map((w) => w.stop())]);
  }
  return result;
}
