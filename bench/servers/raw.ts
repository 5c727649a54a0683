// Baseline: a minimal hand-written node:http SSE broadcaster. One pre-built
// frame per notify, one res.write per listening response, no framework.
import { createServer, type ServerResponse } from "node:http";
import { type BenchServer, runBenchServer } from "./common.js";

const HEADERS = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-cache, no-transform",
  Connection: "keep-alive",
};

async function makeRaw(): Promise<BenchServer> {
  const byKey = new Map<string, Set<ServerResponse>>();
  let open = 0;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const key = url.searchParams.get("key");
    if (url.pathname !== "/events" || key === null) {
      res.writeHead(404).end();
      return;
    }
    const set = byKey.get(key) ?? new Set();
    byKey.set(key, set);
    set.add(res);
    open++;
    res.on("close", () => {
      open--;
      set.delete(res);
      if (set.size === 0) byKey.delete(key);
    });
    res.writeHead(200, HEADERS);
    res.write("event: ready\ndata: 1\n\n");
  });

  return {
    server,
    notify(key, value) {
      const listeners = byKey.get(key);
      if (!listeners) return;
      const frame = `event: bench\ndata: ${JSON.stringify({ key, data: value })}\n\n`;
      for (const res of listeners) res.write(frame);
    },
    sessions: () => open,
  };
}

runBenchServer(makeRaw);
