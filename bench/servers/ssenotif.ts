// sse-notif: createHub + one notifier, served at /notif by `hub.handler()` on
// a bare node:http server (with SSE_NOTIF_EXPRESS=1: mounted in Express with
// `hub.router()`; with SSE_NOTIF_H2=1: on an h2c node:http2 server). With --prepare, the notifier has a per-identity prepare
// (identity from the X-User header).
import { createServer } from "node:http";
import { createServer as createH2Server } from "node:http2";
import type { Server } from "node:net";
import express from "express";
// From dist/, as users run it (npm run bench builds first).
import { createHub, defineNotifier, type IdentifyRequest } from "sse-notif/server";
import type { Payload } from "../api.js";
import { type BenchServer, runBenchServer, type ServerFlags } from "./common.js";

const bench = defineNotifier<string, Payload & { for?: string }>("bench");

function identify(req: IdentifyRequest): string | null {
  const user = req.headers["x-user"];
  return typeof user === "string" ? user : null;
}

async function makeSseNotif(flags: ServerFlags): Promise<BenchServer> {
  // SSE_NOTIF_HISTORY=0 (ssenotif-nohistory.ts): no history; else the default, history on
  const history = process.env.SSE_NOTIF_HISTORY === "0" ? false : undefined;
  const hub = createHub<string | null>({ identify, ...(history === false ? { history } : {}) });
  const prepare = (identity: string | null, value: Payload) => ({ ...value, for: identity ?? "" });
  const notifier = flags.prepare ? hub.notifier(bench, { prepare }) : hub.notifier(bench);
  let server: Server;
  if (process.env.SSE_NOTIF_H2 === "1") {
    const serve = hub.handler("/notif");
    server = createH2Server((req, res) => {
      if (!serve(req, res)) res.writeHead(404).end();
    });
  } else if (process.env.SSE_NOTIF_EXPRESS === "1") {
    const app = express();
    app.use("/notif", hub.router());
    server = createServer(app);
  } else {
    const serve = hub.handler("/notif");
    server = createServer((req, res) => {
      if (!serve(req, res)) res.writeHead(404).end();
    });
  }
  return {
    server,
    notify: (key, value) => notifier.notify(key, value),
    sessions: () => hub.stats().streams,
  };
}

runBenchServer(makeSseNotif);
