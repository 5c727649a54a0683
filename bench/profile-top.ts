// Self time by function in a .cpuprofile (from BENCH_PROFILE_DIR or --cpu-prof),
// as a share of the busy (non-idle) time:
//   node --import tsx bench/profile-top.ts file.cpuprofile [rows]
import { readFileSync } from "node:fs";

interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

const [file, rows = "30"] = process.argv.slice(2);
if (!file) throw new Error("usage: profile-top.ts file.cpuprofile [rows]");
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
const self = new Map<string, number>();
let busy = 0;
profile.samples.forEach((id, i) => {
  const frame = frames.get(id);
  const dt = profile.timeDeltas[i] ?? 0;
  if (!frame || frame.functionName === "(idle)") return;
  const where = frame.url
    ? ` ${frame.url.split("/").slice(-2).join("/")}:${frame.lineNumber + 1}`
    : "";
  const key = `${frame.functionName || "(anonymous)"}${where}`;
  self.set(key, (self.get(key) ?? 0) + dt);
  busy += dt;
});
console.log(`busy ${(busy / 1e3).toFixed(0)} ms`);
for (const [key, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(rows))) {
  console.log(`${((100 * t) / busy).toFixed(1).padStart(5)}%  ${key}`);
}
