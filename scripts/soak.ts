/**
 * `npm run soak`: a long run under churn, the server and the clients each in
 * a process of their own (file-descriptor limit raised through `sh -c
 * 'ulimit -n …; exec …'`).
 *
 * SOAK_SESSIONS (5,000) raw SSE sessions each listen to 1–3 of SOAK_KEYS
 * (500) keys; the server notifies SOAK_RATE (200) times a second on random
 * keys; for SOAK_SECONDS (120) the clients churn SOAK_CHURN (100) times a
 * second: drop the stream and resume it, move a listen, or close the
 * session and start a new one. Then everything is closed and every session's
 * events are checked against the server's log of notifies.
 *
 * SOAK_RETENTION (50) is the hub's retention: each session's replay buffer
 * grows until it holds that many events, by design; kept small, the buffers
 * are full by the middle of the run, so memory that still climbs is a leak.
 *
 * Prints delivered, lost, duplicated, unexpected, and the server's RSS and
 * heap (after a full gc) at the start, middle and end of the churn; exits 1
 * when anything was lost, duplicated or unexpected, when a resume found its
 * session gone, when the hub is not empty at the end, or when memory climbed.
 * SOAK_SELFTEST=1 makes the clients ignore one event in 500: the run must fail.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { HubStats } from "../server/index.js";
import type { Results } from "./soak-clients.js";

const env = process.env;
const seconds = Number(env.SOAK_SECONDS ?? 120);
const settings = {
  SOAK_SESSIONS: env.SOAK_SESSIONS ?? "5000",
  SOAK_KEYS: env.SOAK_KEYS ?? "500",
  SOAK_RATE: env.SOAK_RATE ?? "200",
  SOAK_RETENTION: env.SOAK_RETENTION ?? "50",
};
const churn = Number(env.SOAK_CHURN ?? 100);

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
  gc: boolean;
  g: number;
  stats: Omit<HubStats, "bus">;
}

const children: ChildProcess[] = [];

/** Starts `file` with raised fd limits and an IPC channel; resolves with its first message. */
function start(file: string, extra: Record<string, string>): Promise<[ChildProcess, unknown]> {
  const path = fileURLToPath(new URL(file, import.meta.url));
  const command = `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "${process.execPath}" --import tsx --expose-gc "${path}"`;
  const child = spawn("sh", ["-c", command], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...env, ...settings, ...extra },
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`${file} exited (${code})`)));
    child.once("message", (message) => resolve([child, message]));
  });
}

function next(child: ChildProcess, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (message: { type?: string }) => {
      if (message.type !== type) return;
      child.off("message", on);
      resolve(message as Record<string, unknown>);
    };
    child.on("message", on);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

async function main(): Promise<number> {
  const [, hello] = await start("./soak-server.ts", {});
  const origin = `http://127.0.0.1:${(hello as { port: number }).port}`;
  const mem = async (): Promise<Mem> => (await (await fetch(`${origin}/soak/mem`)).json()) as Mem;
  const before = await mem();
  const [clients] = await start("./soak-clients.ts", { SOAK_URL: origin });
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1_000).toFixed(0)} s`;
  console.log(`soak: ramping up ${settings.SOAK_SESSIONS} sessions…`);
  clients.send({ type: "ramp" });
  await next(clients, "ramped");
  const samples: { when: string; at: string; mem: Mem }[] = [];
  const sample = async (when: string) => {
    const m = await mem();
    samples.push({ when, at: elapsed(), mem: m });
    const s = m.stats;
    console.log(
      `soak: ${elapsed().padStart(6)} ${when.padEnd(7)} rss ${mb(m.rss)}, heap ${mb(m.heapUsed)}, ` +
        `${s.sessions} sessions, ${s.streams} streams, ${s.listens} listens, ${s.sent} sent`,
    );
    return m;
  };
  const first = await sample("start");
  clients.send({ type: "churn", perSecond: churn });
  const churnStart = Date.now();
  let middle: Mem | undefined;
  while (Date.now() - churnStart < seconds * 1_000) {
    await sleep(Math.min(10_000, seconds * 1_000 - (Date.now() - churnStart)));
    const done = Date.now() - churnStart >= seconds * 1_000;
    const half = !middle && Date.now() - churnStart >= (seconds * 1_000) / 2;
    const m = await sample(done ? "end" : half ? "middle" : "");
    if (half) middle = m;
  }
  const last = samples.at(-1)?.mem as Mem;
  middle ??= last;
  await fetch(`${origin}/soak/stop`, { method: "POST" });
  clients.send({ type: "finish" });
  const { results } = (await next(clients, "done")) as unknown as { results: Results };
  let empty = await mem();
  for (
    let i = 0;
    i < 100 && empty.stats.sessions + empty.stats.listens + empty.stats.keys > 0;
    i += 1
  ) {
    await sleep(100);
    empty = await mem();
  }
  return report(results, [before, first, middle, last, empty]);
}

function report(results: Results, samples: Mem[]): number {
  const [before, first, middle, last, empty] = samples as [Mem, Mem, Mem, Mem, Mem];
  // climbing: the second half grew much, or the emptied hub keeps much more than before any session
  const climbed =
    last.heapUsed > middle.heapUsed * 1.25 + 4_194_304 ||
    last.rss > middle.rss * 1.25 + 16_777_216 ||
    empty.heapUsed > before.heapUsed + 8_388_608;
  const left = empty.stats;
  const clean = left.sessions === 0 && left.streams === 0 && left.keys === 0 && left.listens === 0;
  const rows: [string, string][] = [
    ["duration of churn", `${seconds} s`],
    ["sessions (incl. renewals)", `${results.sessions} (${settings.SOAK_SESSIONS} at a time)`],
    ["notifies", String(empty.g)],
    [
      "resumes / renewals / moved listens",
      `${results.resumes} / ${results.renewals} / ${results.relistens}`,
    ],
    ["delivered (of them required)", `${results.delivered} (${results.required})`],
    ["lost", String(results.lost)],
    ["duplicated or out of order", String(results.duplicated)],
    ["unexpected (not listened to)", String(results.unexpected)],
    ["sessions lost on resume", String(results.sessionsLost)],
    ["gaps (excused events)", `${results.gaps} (${results.excused})`],
    ["client errors", String(results.errors)],
    ["RSS start / middle / end", `${mb(first.rss)} / ${mb(middle.rss)} / ${mb(last.rss)}`],
    [
      "heap start / middle / end",
      `${mb(first.heapUsed)} / ${mb(middle.heapUsed)} / ${mb(last.heapUsed)}`,
    ],
    ["heap of the hub before / after (empty)", `${mb(before.heapUsed)} / ${mb(empty.heapUsed)}`],
    ["memory", climbed ? "CLIMBING" : `flat${first.gc ? " (after gc)" : " (no gc exposed)"}`],
    [
      "left on the hub at the end",
      `${left.sessions} sessions, ${left.streams} streams, ${left.keys} keys, ${left.listens} listens`,
    ],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log(`\n${rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`).join("\n")}\n`);
  const failed =
    results.lost > 0 ||
    results.duplicated > 0 ||
    results.unexpected > 0 ||
    results.sessionsLost > 0 ||
    results.errors > 0 ||
    results.required < results.delivered / 2 ||
    !clean ||
    climbed;
  console.log(failed ? "soak: FAILED" : "soak: ok");
  return failed ? 1 : 0;
}

main()
  .then((code) => {
    for (const child of children) child.kill("SIGKILL");
    process.exit(code);
  })
  .catch((error) => {
    console.error(error);
    for (const child of children) child.kill("SIGKILL");
    process.exit(1);
  });
