// sse-notif: createHub + one notifier, mounted at /notif. With --prepare, the
// notifier has a per-identity prepare (identity from the X-User header).
import { createServer } from "node:http";
import express from "express";
import { createHub, defineNotifier } from "../../server/index.js";
import type { Payload } from "../api.js";
import { type BenchServer, runBenchServer, type ServerFlags } from "./common.js";

const bench = defineNotifier<string, Payload & { for?: string }>("bench");

function identify(req: express.Request): string | null {
  const user = req.headers["x-user"];
  return typeof user === "string" ? user : null;
}

async function makeSseNotif(flags: ServerFlags): Promise<BenchServer> {
  const hub = createHub<string | null>({ identify });
  const prepare = (identity: string | null, value: Payload) => ({ ...value, for: identity ?? "" });
  const notifier = flags.prepare ? hub.notifier(bench, { prepare }) : hub.notifier(bench);
  const app = express();
  app.use("/notif", hub.router());
  return {
    server: createServer(app),
    notify: (key, value) => notifier.notify(key, value),
    sessions: () => hub.stats().streams,
  };
}

runBenchServer(makeSseNotif);
