// Where an idle stream's memory goes: each system's server takes a V8 heap
// snapshot before and after N idle sessions connect, and the difference is
// printed per session, by what V8 calls each object (constructor, closure,
// internal array...), next to the RSS and heap figures.
//
//   node --import tsx bench/heap.ts [--sessions 3000] [--systems raw,ssenotif,ssenotif-express]
//     [--top 30] [--explain "array (object properties)"]   (what holds the objects of a label)
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CLIENT_KIND, type ServerApi, SYSTEMS, type SystemName, type WorkerApi } from "./api.js";
import { choosePinning, startNode } from "./procs.js";

interface HeapSnapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Self bytes and counts by label (`type name`). */
type Census = Map<string, { bytes: number; count: number }>;

function label(type: string, name: string): string {
  switch (type) {
    case "string":
    case "concatenated string":
    case "sliced string":
      return "(strings)";
    case "number":
      return "(heap numbers)";
    case "code":
      return "(compiled code)";
    case "closure":
      return `closure ${name || "(anonymous)"}`;
    default:
      return `${type} ${name.length > 60 ? `${name.slice(0, 57)}...` : name}`;
  }
}

/** For objects of a label, what holds them: `holder label .edge` → count. */
function retainers(heap: HeapSnapshot, explain: string): Map<string, number> {
  const [wanted = "", min] = explain.split("@");
  const minSize = Number(min ?? 0);
  const { node_fields: fields, node_types, edge_fields, edge_types } = heap.snapshot.meta;
  const [typeAt, nameAt, edgesAt, sizeAt] = ["type", "name", "edge_count", "self_size"].map((f) =>
    fields.indexOf(f),
  );
  const [edgeTypeAt, edgeNameAt, toAt] = ["type", "name_or_index", "to_node"].map((f) =>
    edge_fields.indexOf(f),
  );
  const labelOf = (i: number) =>
    label(
      node_types[0][heap.nodes[i + (typeAt ?? 0)] ?? 0] ?? "?",
      heap.strings[heap.nodes[i + (nameAt ?? 0)] ?? 0] ?? "",
    );
  const out = new Map<string, number>();
  let edge = 0;
  for (let i = 0; i < heap.nodes.length; i += fields.length) {
    const count = heap.nodes[i + (edgesAt ?? 0)] ?? 0;
    for (let e = 0; e < count; e++, edge += edge_fields.length) {
      const to = heap.edges[edge + (toAt ?? 0)] ?? 0;
      if (labelOf(to) !== wanted || (heap.nodes[to + (sizeAt ?? 0)] ?? 0) < minSize) continue;
      const type = edge_types[0][heap.edges[edge + (edgeTypeAt ?? 0)] ?? 0];
      const raw = heap.edges[edge + (edgeNameAt ?? 0)] ?? 0;
      const name = type === "element" || type === "hidden" ? `[${raw}]` : heap.strings[raw];
      const key = `${labelOf(i)} .${type === "element" ? "[]" : name}`;
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  }
  return out;
}

function census(path: string, explain: string[] = []): Census {
  const heap = JSON.parse(readFileSync(path, "utf8")) as HeapSnapshot;
  for (const wanted of explain) {
    const held = [...retainers(heap, wanted)].sort((a, b) => b[1] - a[1]).slice(0, 8);
    console.error(`${wanted} is held by:\n${held.map(([k, n]) => `  ${n}× ${k}`).join("\n")}`);
  }
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const out: Census = new Map();
  for (let i = 0; i < heap.nodes.length; i += fields.length) {
    const type = types[heap.nodes[i + (typeAt ?? 0)] ?? 0] ?? "?";
    const name = heap.strings[heap.nodes[i + (nameAt ?? 0)] ?? 0] ?? "";
    const key = label(type, name);
    const entry = out.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += heap.nodes[i + (sizeAt ?? 0)] ?? 0;
    entry.count += 1;
    out.set(key, entry);
  }
  return out;
}

interface Measured {
  system: SystemName;
  held: number;
  rss: number;
  heap: number;
  /** Per session: label → [bytes, objects]. */
  perSession: Map<string, [number, number]>;
}

async function measure(system: SystemName, sessions: number, explain: string[]): Promise<Measured> {
  const pinning = choosePinning();
  const server = startNode<ServerApi>(`bench/servers/${system}.ts`, [], pinning.server, system);
  const worker = startNode<WorkerApi>("bench/client-worker.ts", [], pinning.clients, "client");
  const file = (tag: string) =>
    join(tmpdir(), `sse-notif-heap-${system}-${tag}-${process.pid}.heapsnapshot`);
  try {
    const { port } = await server.api.call("hello", {});
    const before = await server.api.call("usage", { gc: true });
    const empty = census((await server.api.call("snapshot", { path: file("0") })).path);
    const specs = Array.from({ length: sessions }, () => ({ key: "k0" }));
    const kind = CLIENT_KIND[system];
    await worker.api.call("connect", { kind, port, sessions: specs, concurrency: 64 }, 180_000);
    const after = await server.api.call("usage", { gc: true });
    const snapshot = await server.api.call("snapshot", { path: file("n") }, 180_000);
    const full = census(snapshot.path, explain);
    const held = after.sessions;
    const perSession = new Map<string, [number, number]>();
    for (const [key, { bytes, count }] of full) {
      const base = empty.get(key) ?? { bytes: 0, count: 0 };
      perSession.set(key, [(bytes - base.bytes) / held, (count - base.count) / held]);
    }
    return {
      system,
      held,
      rss: (after.rss - before.rss) / held,
      heap: (after.heapUsed - before.heapUsed) / held,
      perSession,
    };
  } finally {
    await worker.api.call("close", {}, 10_000).catch(() => {});
    await Promise.all([server.stop(), worker.stop()]);
    if (!process.env.HEAP_KEEP) for (const tag of ["0", "n"]) rmSync(file(tag), { force: true });
  }
}

function report(results: Measured[], top: number): string {
  const keys = new Set(results.flatMap((r) => [...r.perSession.keys()]));
  const worst = (key: string) => Math.max(...results.map((r) => r.perSession.get(key)?.[0] ?? 0));
  const rows = [...keys].sort((a, b) => worst(b) - worst(a)).slice(0, top);
  const cell = (r: Measured, key: string) => {
    const [bytes = 0, count = 0] = r.perSession.get(key) ?? [];
    return `${bytes.toFixed(0).padStart(6)} B ${count.toFixed(2).padStart(6)}×`;
  };
  const width = Math.max(...rows.map((k) => k.length), 20);
  const head = `${"per session".padEnd(width)}  ${results.map((r) => r.system.padEnd(17)).join("  ")}`;
  const lines = [
    head,
    `${"RSS KiB".padEnd(width)}  ${results.map((r) => (r.rss / 1024).toFixed(2).padEnd(17)).join("  ")}`,
    `${"heap used KiB".padEnd(width)}  ${results.map((r) => (r.heap / 1024).toFixed(2).padEnd(17)).join("  ")}`,
    ...rows.map((key) => `${key.padEnd(width)}  ${results.map((r) => cell(r, key)).join("  ")}`),
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sessions: { type: "string", default: "3000" },
      systems: { type: "string", default: "raw,ssenotif,ssenotif-express" },
      top: { type: "string", default: "30" },
      /** Labels whose holders to print, e.g. "array (object properties)", or "label@200" for objects of 200 bytes or more. */
      explain: { type: "string", multiple: true, default: [] },
    },
  });
  const systems = (values.systems ?? "").split(",") as SystemName[];
  for (const s of systems) if (!SYSTEMS.includes(s)) throw new Error(`unknown system ${s}`);
  const results: Measured[] = [];
  for (const system of systems) {
    results.push(await measure(system, Number(values.sessions), values.explain ?? []));
    console.error(`${system}: ${results.at(-1)?.held} sessions held`);
  }
  console.log(report(results, Number(values.top)));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
