// Starting the server and client processes: each with the highest open-file
// limit it may have, pinned to its own core with taskset when there is one.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { type Api, type Remote, remote } from "./ipc.js";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Which cores the server and the clients get, or none when pinning is impossible. */
export interface Pinning {
  server?: string;
  clients?: string;
  note: string;
}

export function choosePinning(): Pinning {
  const cpus = availableParallelism();
  const found = spawnSync("sh", ["-c", "command -v taskset"]).status === 0;
  if (!found) return { note: "no taskset: processes not pinned" };
  if (cpus < 2) return { note: `only ${cpus} CPU: processes not pinned` };
  const last = cpus - 1;
  return {
    server: "0",
    clients: last === 1 ? "1" : `1-${last}`,
    note: `taskset: server on CPU 0, clients on CPU ${last === 1 ? "1" : `1-${last}`}`,
  };
}

/** The open-file limit children get after RAISE_FDS, or -1 when unknown. */
export function childFdLimit(): number {
  const probe = spawnSync("sh", ["-c", `${RAISE_FDS.replace('exec "$@"', "")} ulimit -n`], {
    encoding: "utf8",
  });
  const n = Number(probe.stdout.trim());
  return Number.isFinite(n) ? n : -1;
}

export interface Child<A extends Api> {
  readonly api: Remote<A>;
  readonly process: ChildProcess;
  /** Disconnects IPC (the child exits on it); kills it if it lingers. */
  stop(): Promise<void>;
}

// `ulimit -n` as high as the hard limit allows (raising the hard limit needs
// CAP_SYS_RESOURCE); the child reports what it got through /proc/self/limits.
const RAISE_FDS = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';

/** Extra node flags for every child, e.g. BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const EXTRA_FLAGS = process.env.BENCH_NODE_FLAGS?.split(" ").filter((f) => f.length > 0) ?? [];

/** Starts `node --import tsx <script> <args>` with an IPC channel. */
export function startNode<A extends Api>(
  script: string,
  args: string[],
  cpu: string | undefined,
  label: string,
): Child<A> {
  const node = [
    process.execPath,
    "--import",
    "tsx",
    "--expose-gc",
    ...EXTRA_FLAGS,
    script,
    ...args,
  ];
  const command = cpu === undefined ? node : ["taskset", "-c", cpu, ...node];
  const child = spawn("sh", ["-c", RAISE_FDS, "sh", ...command], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    api: remote<A>(child, label),
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        if (child.connected) child.disconnect();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
