// Benchmark orchestrator: sse-notif against a raw node:http SSE baseline,
// Socket.IO rooms and better-sse channels, under the same load, on loopback.
//
//   node --import tsx bench/run.ts [--quick] [--systems raw,ssenotif] [--scenarios hot,idle]
//
// Each run starts the server in its own process (CPU 0) and client processes
// (the other CPUs) that open raw SSE connections (or Socket.IO sockets);
// control goes over IPC. Prints a table, writes bench/results/<date>.json.
import type { SystemName } from "./api.js";
import { awaitQuietHost } from "./hostcpu.js";
import { type Options, parseOptions, type ScenarioName, USAGE } from "./options.js";
import { childFdLimit, choosePinning } from "./procs.js";
import { disturbances, environment, LEGEND, table, writeJson } from "./report.js";
import { type Context, type RunResult, runOne } from "./scenario.js";

interface Job {
  system: SystemName;
  scenario: ScenarioName;
  sessions: number;
}

/** Every run the options ask for; prepare is sse-notif's, against raw's hot key. */
function jobs(options: Options): Job[] {
  const out: Job[] = [];
  for (const scenario of options.scenarios) {
    const sizes = scenario === "idle" ? [options.idleSessions] : options.sizes;
    for (const sessions of sizes) {
      for (const system of options.systems) {
        if (scenario === "prepare" && system !== "ssenotif") continue;
        out.push({ system, scenario, sessions });
      }
    }
  }
  return out;
}

function summary(r: RunResult): string {
  const parts = [`${r.connect.ready}/${r.sessions} connected in ${r.connect.seconds.toFixed(1)} s`];
  if (r.burst) parts.push(`burst ${Math.round(r.burst.rate)}/s`);
  if (r.paced) parts.push(`paced p99 ${r.paced.p99.toFixed(2)} ms`);
  if (r.idle) parts.push(`held ${r.idle.held}`);
  const foreign = Math.max(r.burst?.foreignCpu ?? 0, r.paced?.foreignCpu ?? 0);
  if (foreign > 10) parts.push(`other processes took up to ${foreign.toFixed(0)}% of a core`);
  if (r.error) parts.push(`error: ${r.error}`);
  return parts.join(", ");
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === "help") {
    console.log(USAGE);
    return;
  }
  const pinning = choosePinning();
  const ctx: Context = { options, pinning };
  const env = environment(options, pinning.note);
  console.log(`node ${env.node}, ${env.cpus} CPUs (${env.cpuModel}); ${pinning.note}`);
  const fds = childFdLimit();
  const most = Math.max(options.idleSessions, ...options.sizes);
  console.log(`open files per process: ${fds} (soft limit raised to the hard one)`);
  if (fds >= 0 && fds < most + 100) {
    console.log(
      `warning: ${most} sessions need ${most + 100} open files in the server: runs will be capped ` +
        "(raising the hard limit needs root with CAP_SYS_RESOURCE: ulimit -Hn before npm run bench)",
    );
  }
  const results: RunResult[] = [];
  const started = Date.now();
  for (const job of jobs(options)) {
    if (!(await awaitQuietHost(options.quietWait * 1e3)))
      console.log(`(host still busy after ${options.quietWait} s: running anyway)`);
    process.stdout.write(`${job.system} ${job.scenario} ${job.sessions}: `);
    const result = await runOne(ctx, job.system, job.scenario, job.sessions);
    results.push(result);
    console.log(summary(result));
  }
  console.log(`\n${table(results, options.systems)}\n${LEGEND}`);
  for (const line of disturbances(results)) console.log(line);
  const seconds = (Date.now() - started) / 1e3;
  const path = writeJson(options.out, { environment: env, seconds, results });
  console.log(`\n${results.length} runs in ${seconds.toFixed(0)} s; results in ${path}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
