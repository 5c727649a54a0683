// The results table (each figure with its ratio to the baseline) and the JSON file.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import type { SystemName } from "./api.js";
import type { Options, ScenarioName } from "./options.js";
import type { PhaseResult } from "./phase.js";
import { ROOT } from "./procs.js";
import type { RunResult } from "./scenario.js";

const BASELINE: SystemName = "raw";
/** A client process above this share of a core may be what limits a burst. */
const CLIENT_BOUND = 90;
/** Foreign CPU (% of a core) above which a phase's figures are called disturbed. */
const FOREIGN_LIMIT = 10;

interface Row {
  label: string;
  /** Formats the figure; undefined when the run has none. */
  value: (r: RunResult) => number | undefined;
  digits: number;
}

const phaseRow = (
  label: string,
  pick: (p: PhaseResult) => number,
  digits: number,
  paced = false,
): Row => ({
  label,
  value: (r) => {
    const p = paced ? r.paced : r.burst;
    return p ? pick(p) : undefined;
  },
  digits,
});

const LOAD_ROWS: Row[] = [
  phaseRow("burst: delivered/s", (p) => p.rate, 0),
  phaseRow("burst: latency p50 ms", (p) => p.p50, 2),
  phaseRow("burst: latency p99 ms", (p) => p.p99, 2),
  phaseRow("paced: latency p50 ms", (p) => p.p50, 2, true),
  phaseRow("paced: latency p99 ms", (p) => p.p99, 2, true),
  phaseRow("burst: server CPU µs/delivery", (p) => p.cpuPerDelivery, 2),
  phaseRow("burst: server CPU %", (p) => p.serverCpu, 0),
  phaseRow("burst: client CPU %", (p) => p.clientCpu, 0),
  phaseRow("burst: delivered/expected %", (p) => (100 * p.delivered) / p.expected, 1),
];

const IDLE_ROWS: Row[] = [
  {
    label: "server RSS KiB/session",
    value: (r) => r.idle && r.idle.rssPerSession / 1024,
    digits: 2,
  },
  {
    label: "server heap KiB/session",
    value: (r) => r.idle && r.idle.heapPerSession / 1024,
    digits: 2,
  },
  { label: "sessions held", value: (r) => r.idle?.held, digits: 0 },
];

function format(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  if (digits === 0 && Math.abs(value) >= 10_000) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(digits);
}

function cell(row: Row, run: RunResult | undefined, base: RunResult | undefined): string {
  if (!run) return "";
  if (run.error && !run.burst && !run.idle) return "failed";
  const value = row.value(run);
  let text = format(value, row.digits);
  const bound = row.label === "burst: delivered/s" && (run.burst?.clientCpu ?? 0) >= CLIENT_BOUND;
  if (bound) text += "!";
  const ref = base && base !== run ? row.value(base) : undefined;
  if (value !== undefined && ref !== undefined && ref !== 0 && Number.isFinite(value / ref)) {
    text += ` (${(value / ref).toFixed(2)}×)`;
  }
  return text;
}

/** The baseline of a run: raw on the same scenario; for prepare, raw's hot key. */
function baselineOf(results: RunResult[], scenario: ScenarioName, sessions: number) {
  const wanted = scenario === "prepare" ? "hot" : scenario;
  return results.find(
    (r) => r.system === BASELINE && r.scenario === wanted && r.sessions === sessions,
  );
}

export function table(results: RunResult[], systems: SystemName[]): string {
  const lines: string[][] = [["scenario", "figure", ...systems]];
  const groups = [...new Set(results.map((r) => `${r.scenario}/${r.sessions}`))];
  for (const group of groups) {
    const runs = results.filter((r) => `${r.scenario}/${r.sessions}` === group);
    const first = runs[0];
    if (!first) continue;
    const base = baselineOf(results, first.scenario, first.sessions);
    const keys = first.scenario === "many" ? `, ${first.keys} keys` : "";
    const name = `${first.scenario} (${first.sessions} sessions${keys})`;
    for (const row of first.scenario === "idle" ? IDLE_ROWS : LOAD_ROWS) {
      const bySystem = systems.map((s) => {
        const run = runs.find((r) => r.system === s) ?? (s === BASELINE ? base : undefined);
        return (
          cell(row, run, base) + (run && run === base && run.scenario !== first.scenario ? "*" : "")
        );
      });
      lines.push([
        row === LOAD_ROWS[0] || row === IDLE_ROWS[0] ? name : "",
        row.label,
        ...bySystem,
      ]);
    }
  }
  const widths = lines[0]?.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? "").length))) ?? [];
  const render = (l: string[]) =>
    l
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [render(lines[0] ?? []), rule, ...lines.slice(1).map(render)].join("\n");
}

export const LEGEND = `(r×) = ratio to raw, the node:http baseline; for latency, CPU and memory lower is better.
* = raw's hot-key figure (prepare is compared with it). ! = clients over ${CLIENT_BOUND}% of their core: a lower bound.`;

function version(name: string): string {
  try {
    const json = JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8"));
    return String(json.version);
  } catch {
    return "missing";
  }
}

function gitCommit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: ROOT,
      encoding: "utf8",
    }).trim();
  } catch {
    return "none";
  }
}

export function environment(options: Options, pinning: string) {
  const own = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    platform: `${process.platform} ${process.arch}`,
    pinning,
    commit: gitCommit(),
    packages: {
      "sse-notif": own.version,
      ...Object.fromEntries(
        ["socket.io", "socket.io-client", "better-sse", "express", "tsx", "typescript"].map((n) => [
          n,
          version(n),
        ]),
      ),
    },
    options,
  };
}

/** Runs whose phases other processes disturbed, as warning lines. */
export function disturbances(results: RunResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    for (const [name, p] of [
      ["burst", r.burst],
      ["paced", r.paced],
    ] as const) {
      if (p && p.foreignCpu > FOREIGN_LIMIT) {
        out.push(
          `warning: ${r.system} ${r.scenario} ${r.sessions} ${name}: other processes took ${p.foreignCpu.toFixed(0)}% of a core`,
        );
      }
    }
  }
  return out;
}

/** Writes the JSON results; returns the path. */
export function writeJson(file: string | undefined, data: object): string {
  const path =
    file ??
    join(ROOT, "bench", "results", `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}
