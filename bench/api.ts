// What the orchestrator, the server processes and the client workers say to
// each other over IPC, and the clock they share.
import { readFileSync } from "node:fs";
import type { HistogramJson } from "./stats.js";

export const SYSTEMS = [
  "raw",
  "socketio",
  "bettersse",
  "ssenotif",
  "ssenotif-express",
  "ssenotif-h2",
  "ssenotif-nohistory",
] as const;
export type SystemName = (typeof SYSTEMS)[number];

/** How a worker talks to a system. */
export type ClientKind = "sse" | "ssenotif" | "h2" | "socketio";

export const CLIENT_KIND: Record<SystemName, ClientKind> = {
  raw: "sse",
  bettersse: "sse",
  ssenotif: "ssenotif",
  "ssenotif-express": "ssenotif",
  "ssenotif-h2": "h2",
  "ssenotif-nohistory": "ssenotif",
  socketio: "socketio",
};

/** One client session: the key it listens on and, optionally, who it is. */
export interface SessionSpec {
  key: string;
  user?: string;
}

/** The notification every system sends: `t` is {@link nowMicros} at `notify`. */
export interface Payload {
  t: number;
  n: number;
  pad: string;
}

export interface Usage {
  /** process.cpuUsage(), µs. */
  user: number;
  system: number;
  rss: number;
  heapUsed: number;
  /** Sessions the server holds (its own count). */
  sessions: number;
}

export type ServerApi = {
  hello: { req: Record<string, never>; res: { port: number; fdLimit: number } };
  usage: { req: { gc: boolean }; res: Usage };
  /** Writes a V8 heap snapshot (after a full GC) to `path`. */
  snapshot: { req: { path: string }; res: { path: string } };
  burst: { req: { notifies: number; keys: number; perTick: number }; res: Window };
  paced: {
    req: { rate: number; seconds: number; keys: number };
    res: Window & { notifies: number };
  };
};

export type WorkerApi = {
  hello: { req: Record<string, never>; res: { fdLimit: number } };
  connect: {
    req: { kind: ClientKind; port: number; sessions: SessionSpec[]; concurrency: number };
    res: { ready: number; failed: number; errors: string[] };
  };
  reset: { req: Record<string, never>; res: Record<string, never> };
  progress: { req: Record<string, never>; res: { received: number; open: number } };
  collect: { req: Record<string, never>; res: Receipts };
  close: { req: Record<string, never>; res: Record<string, never> };
};

/** Start and end of a series of notifies, in {@link nowMicros}. */
export interface Window {
  start: number;
  end: number;
}

/** What a worker received since its last reset. */
export interface Receipts {
  received: number;
  /** First and last receipt, {@link nowMicros}; 0 when nothing came. */
  first: number;
  last: number;
  /** Latency from `notify` to receipt, µs. */
  latency: HistogramJson;
  /** process.cpuUsage() delta since reset, µs. */
  cpu: number;
  open: number;
}

/**
 * Microseconds on CLOCK_MONOTONIC (process.hrtime): one clock for every process
 * of this host, so a timestamp taken in the server can be compared with one
 * taken in a client process, without wall-clock steps.
 */
export function nowMicros(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + ns / 1e3;
}

/** This process's open-file limit (Linux), or -1 when unknown. */
export function fdLimit(): number {
  try {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const match = /^Max open files\s+(\d+)/m.exec(limits);
    return match?.[1] ? Number(match[1]) : -1;
  } catch {
    return -1;
  }
}

/** The key names a scenario uses: `k0` … `k{n-1}`. */
export function keyName(i: number): string {
  return `k${i}`;
}
