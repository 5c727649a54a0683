/**
 * The demo's server: the hub at /notif, the JSON API at /api, the built page
 * at /. `startDemo` is what `npm run demo` and the browser tests start.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import express, { type Response } from "express";
import { Registry } from "prom-client";
import { type Bus, createHub } from "../server/index.js";
import { collectMetrics } from "../server/metrics.js";
import { api, userOf } from "./api.js";
import { isRoom, type Message, roomNotifier } from "./shared.js";
import { Store } from "./store.js";

export interface DemoOptions {
  /** @default `PORT`, else 3000; 0 picks a free port */
  port?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** The built page. @default demo/dist */
  dist?: string;
  /** Spans several demo servers through Redis. @default `DEMO_REDIS_URL`, else in-process */
  redisUrl?: string;
  /** Serve `POST /test/drop-streams[?hold=<ms>]`. @default `DEMO_TEST_ROUTES=1` */
  testRoutes?: boolean;
}

export interface Demo {
  readonly url: string;
  /** Cuts every open SSE stream (clients reconnect and resume); returns how many. */
  closeConnections(): number;
  close(): Promise<void>;
}

export const DEFAULT_DIST = fileURLToPath(new URL("./dist", import.meta.url));

/**
 * Starts the demo server.
 * @example
 * const demo = await startDemo({ port: 0 });
 * console.log(demo.url);
 */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const {
    port = Number(process.env.PORT ?? 3000),
    host = "127.0.0.1",
    dist = DEFAULT_DIST,
    redisUrl = process.env.DEMO_REDIS_URL,
    testRoutes = process.env.DEMO_TEST_ROUTES === "1",
  } = options;
  const store = new Store();
  const hub = createHub<string | null>({
    identify: userOf,
    bus: redisUrl ? await redis(redisUrl) : undefined,
    retry: 1_000,
    onError: (error, context) => console.error("sse-notif:", error.message, context),
  });
  const rooms = hub.notifier(roomNotifier, {
    parseKey: (raw) => {
      const room = (raw as { room?: unknown } | null)?.room;
      if (!isRoom(room)) throw new Error("no such room");
      return { room };
    },
    authorize: (user) => user !== null,
    prepare: (user, message: Message) => store.show(user, message),
  });

  const metrics = new Registry();
  collectMetrics(hub, { register: metrics });

  const streams = new Set<Response>();
  /** Until when `GET /notif/events` answers 503 (a test's outage). */
  let heldUntil = 0;
  const app = express();
  app.use("/notif/events", (_req, res, next) => {
    if (Date.now() < heldUntil) {
      res.sendStatus(503);
      return;
    }
    streams.add(res);
    res.on("close", () => streams.delete(res));
    next();
  });
  app.use("/notif", hub.router());
  app.use("/api", api(store, rooms));
  // Prometheus scrapes this; behind a real deployment, keep it off the public side.
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.metrics());
  });
  const closeConnections = () => {
    const count = streams.size;
    for (const res of streams) res.socket?.destroy();
    return count;
  };
  if (testRoutes) {
    // ?hold=<ms>: streams are refused that long, so that a test surely posts while clients are away.
    app.post("/test/drop-streams", (req, res) => {
      heldUntil = Date.now() + Math.min(10_000, Number(req.query.hold) || 0);
      res.json({ dropped: closeConnections() });
    });
  }
  app.use(express.static(dist));

  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    closeConnections,
    async close() {
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The Redis bus, loaded only when asked for, so that the demo runs without Redis. */
async function redis(url: string): Promise<Bus> {
  const { redisBus } = await import("../server/redis.js");
  return redisBus({ url });
}
