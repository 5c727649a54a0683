// Command-line options and the sizes of each scenario.
import { parseArgs } from "node:util";
import { SYSTEMS, type SystemName } from "./api.js";

export const SCENARIOS = ["hot", "many", "prepare", "idle"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Options {
  quick: boolean;
  systems: SystemName[];
  scenarios: ScenarioName[];
  /** Session counts for hot, many and prepare. */
  sizes: number[];
  idleSessions: number;
  /** Client worker processes per run (0: one per 5,000 sessions). */
  workers: number;
  /** Delivered notifications aimed at per burst. */
  burstDeliveries: number;
  /** Bursts per run; the least disturbed one is shown. */
  repeat: number;
  /** Delivered notifications per second in the paced phase, and its length. */
  pacedDeliveries: number;
  pacedSeconds: number;
  /** How long idle sessions are held before memory is measured, s. */
  holdSeconds: number;
  /** How long each run waits at most for other processes to calm down, s. */
  quietWait: number;
  out: string | undefined;
}

export const USAGE = `usage: npm run bench -- [options]
  --quick                 small sizes, for a smoke run (about 1 minute)
  --systems a,b           of ${SYSTEMS.join(",")} (default: all)
  --scenarios a,b         of hot,many,prepare,idle (default: all; prepare is sse-notif only)
  --sizes 1000,5000       sessions for hot, many and prepare
  --idle 10000            sessions for idle
  --workers N             client processes per run (default: one per 5,000 sessions)
  --repeat N              bursts per run, the least disturbed is shown (default: 3)
  --quiet-wait S          seconds each run waits at most for a quiet host (default: 30)
  --out FILE              JSON results (default: bench/results/<date>.json)`;

function list<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  what: string,
): T[] {
  if (value === undefined) return [...allowed];
  const items = value.split(",").filter((s) => s.length > 0);
  for (const item of items) {
    if (!allowed.includes(item as T)) throw new Error(`unknown ${what} "${item}"\n${USAGE}`);
  }
  return items as T[];
}

function positive(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${what} wants a whole number\n${USAGE}`);
  return n;
}

export function parseOptions(argv: string[]): Options | "help" {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      systems: { type: "string" },
      scenarios: { type: "string" },
      sizes: { type: "string" },
      idle: { type: "string" },
      workers: { type: "string" },
      repeat: { type: "string" },
      "quiet-wait": { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return "help";
  const quick = values.quick ?? false;
  const sizes =
    values.sizes?.split(",").map((s) => positive(s, 0, "sizes")) ?? (quick ? [200] : [1000, 5000]);
  return {
    quick,
    systems: list(values.systems, SYSTEMS, "system"),
    scenarios: list(values.scenarios, SCENARIOS, "scenario"),
    sizes: sizes.filter((n) => n > 0),
    idleSessions: positive(values.idle, quick ? 1000 : 10_000, "idle"),
    workers: positive(values.workers, 0, "workers"),
    repeat: Math.max(1, positive(values.repeat, quick ? 1 : 3, "repeat")),
    burstDeliveries: quick ? 20_000 : 300_000,
    pacedDeliveries: quick ? 10_000 : 30_000,
    pacedSeconds: quick ? 1 : 4,
    holdSeconds: quick ? 1 : 3,
    quietWait: positive(values["quiet-wait"], 30, "quiet-wait"),
    out: values.out,
  };
}
