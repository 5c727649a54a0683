/** Bus test helpers: bounded waits, Redis reachability, throwaway redis-server processes. */
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import type { Bus, BusStatus } from "../../server/bus.js";
import type { HistoryLimits } from "../../server/history.js";
import { until } from "../helpers.js";

export { until };

/** The shared Redis the suites use. */
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Resolves to true when a Redis answers PING at host:port within `ms`. */
export function pings(port: number, host = "127.0.0.1", ms = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (data) => done(data.toString().startsWith("+PONG")));
  });
}

/**
 * A `before` hook: skips the suite, loudly, when the shared Redis is not
 * reachable; fails instead when `CI` is set.
 */
export async function requireRedis(this: Mocha.Context): Promise<void> {
  const url = new URL(REDIS_URL);
  if (await pings(Number(url.port || 6379), url.hostname)) return;
  if (process.env.CI) throw new Error(`Redis is not reachable at ${REDIS_URL} (CI is set)`);
  console.warn(`\n  !!! SKIPPING Redis bus tests: no Redis at ${REDIS_URL} !!!\n`);
  this.skip();
}

/** A free TCP port on 127.0.0.1 (free when asked; good enough for tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `redis-server` on `port` with `args`: the child at once (to kill it
 * even if it never answers), and `ready` once it answers PING (rejected if
 * it exits first). `label` names it in errors.
 */
export function spawnRedis(
  port: number,
  args: readonly string[],
  label: string,
): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn("redis-server", args, { stdio: "ignore" });
  const exited = new Promise<never>((_, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`${label} exited (${code})`)));
  });
  exited.catch(() => {});
  const answered = until(() => pings(port), 5_000, label);
  return { child, ready: Promise.race([exited, answered]).then(() => {}) };
}

/** SIGKILLs `child` (no goodbye to clients) unless it has exited, and waits for its exit. */
export async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/** A throwaway `redis-server` child process on `port`. */
export class RedisProcess {
  readonly port: number;
  #child: ChildProcess | undefined;

  constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server and waits until it answers PING. */
  async start(): Promise<void> {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--save", ""];
    const all = [...args, "--appendonly", "no", "--daemonize", "no"];
    const { child, ready } = spawnRedis(this.port, all, "redis-server");
    this.#child = child;
    await ready;
  }

  /** Kills the server (SIGKILL: no goodbye to clients) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    await killChild(child);
  }
}

/** A started bus with what its context received. */
export interface Node {
  readonly bus: Bus;
  readonly errors: Error[];
  readonly statuses: BusStatus[];
  /** What each `onResubscribed` call named. */
  readonly resubscribed: string[][];
}

/** Starts `bus` as a hub would, recording errors and status changes. */
export async function startNode(bus: Bus, nodeId = "node", history?: HistoryLimits): Promise<Node> {
  const node: Node = { bus, errors: [], statuses: [], resubscribed: [] };
  await bus.start({
    nodeId,
    onError: (error) => node.errors.push(error),
    onStatus: (status) => node.statuses.push(status),
    onResubscribed: (channels) => node.resubscribed.push([...channels]),
    ...(history ? { history } : {}),
  });
  return node;
}

/** A channel name no other test uses. */
export function freshChannel(what = "c"): string {
  return `${what}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}`;
}
