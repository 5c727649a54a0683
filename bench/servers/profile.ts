// BENCH_PROFILE_DIR=dir: each burst of a server is CPU-profiled (node:inspector)
// into dir/<system>-<n>.cpuprofile, to open in Chrome DevTools or summarise
// with bench/profile-top.ts. Off by default: the profiler costs CPU too.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { basename, join } from "node:path";

let count = 0;

export async function profiled<T>(run: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return run();
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  try {
    return await run();
  } finally {
    const { profile } = await session.post("Profiler.stop");
    const system = basename(process.argv[1] ?? "server", ".ts");
    const flags = process.argv.includes("--prepare") ? "-prepare" : "";
    writeFileSync(join(dir, `${system}${flags}-${++count}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}
