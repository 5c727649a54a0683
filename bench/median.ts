// Medians over several `npm run bench` result files (same systems and
// scenarios): each figure's median value and the median of its ratio to raw
// within each run (runs on a shared machine drift; ratios in one run less so).
//
//   node --import tsx bench/median.ts bench/results/a.json bench/results/b.json bench/results/c.json
import { readFileSync } from "node:fs";
import type { PhaseResult } from "./phase.js";
import type { RunResult } from "./scenario.js";

interface Figure {
  label: string;
  pick: (r: RunResult) => number | undefined;
  digits: number;
}

const burst = (f: (p: PhaseResult) => number) => (r: RunResult) =>
  r.burst ? f(r.burst) : undefined;
const FIGURES: Figure[] = [
  { label: "burst: delivered/s", pick: burst((p) => p.rate), digits: 0 },
  { label: "burst: server CPU µs/delivery", pick: burst((p) => p.cpuPerDelivery), digits: 2 },
  { label: "paced: latency p99 ms", pick: (r) => r.paced?.p99, digits: 2 },
  {
    label: "burst: delivered/expected %",
    pick: burst((p) => (100 * p.delivered) / p.expected),
    digits: 1,
  },
  {
    label: "idle: server RSS KiB/session",
    pick: (r) => r.idle && r.idle.rssPerSession / 1024,
    digits: 2,
  },
  {
    label: "idle: server heap KiB/session",
    pick: (r) => r.idle && r.idle.heapPerSession / 1024,
    digits: 2,
  },
];

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const files = process.argv.slice(2);
if (files.length === 0) throw new Error("usage: median.ts results1.json results2.json …");
const runs = files.map(
  (f) => (JSON.parse(readFileSync(f, "utf8")) as { results: RunResult[] }).results,
);
const groups = [...new Set(runs.flat().map((r) => `${r.scenario}/${r.sessions}`))];
const systems = [...new Set(runs.flat().map((r) => r.system))];
console.log(`medians of ${files.length} runs; (×) = median of the per-run ratio to raw\n`);
console.log(["scenario", "figure", ...systems].join(" | "));
for (const group of groups) {
  for (const figure of FIGURES) {
    const cells = systems.map((system) => {
      const values: number[] = [];
      const ratios: number[] = [];
      for (const results of runs) {
        const run = results.find(
          (r) => r.system === system && `${r.scenario}/${r.sessions}` === group,
        );
        const base = results.find(
          (r) => r.system === "raw" && `${r.scenario}/${r.sessions}` === group,
        );
        const value = run && figure.pick(run);
        if (value === undefined) continue;
        values.push(value);
        const ref = base && figure.pick(base);
        if (ref && system !== "raw") ratios.push(value / ref);
      }
      if (values.length === 0) return "";
      const ratio = ratios.length > 0 ? ` (${median(ratios).toFixed(2)}×)` : "";
      return `${median(values).toFixed(figure.digits)}${ratio}`;
    });
    if (cells.some((c) => c !== "")) console.log([group, figure.label, ...cells].join(" | "));
  }
}
