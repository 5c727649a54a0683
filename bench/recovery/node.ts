// One node of the recovery benchmark: a hub on Redis (history on, as by
// default) behind node:http, counting the stream opens and listens it serves.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { defineNotifier } from "../../protocol/contract.js";
import { createHub } from "../../server/index.js";
import { redisBus } from "../../server/redis.js";
import { serveParent } from "../ipc.js";
import type { NodeApi } from "./api.js";

const chat = defineNotifier<string, string>("chat");
const hub = createHub({
  bus: redisBus({ url: process.env.REDIS_URL, prefix: process.env.PREFIX }),
  onError: () => {},
});
const notifier = hub.notifier(chat);
const serve = hub.handler("/notif");
const events: number[] = [];
const listens: number[] = [];
const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url?.startsWith("/notif/events")) events.push(Date.now());
  if (req.method === "POST" && req.url?.startsWith("/notif/listen")) listens.push(Date.now());
  if (!serve(req, res)) res.writeHead(404).end();
});
const ready = new Promise<number>((resolve) =>
  server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
);

serveParent<NodeApi>({
  port: () => ready,
  async notify({ keys, from, count }) {
    const start = performance.now();
    for (let n = from; n < from + count; n += 1)
      await Promise.all(keys.map((key) => notifier.notify(key, `${key}.${n}`)));
    return { ms: performance.now() - start };
  },
  requests: async () => ({ events, listens }),
  async close() {
    await hub.close();
    server.closeAllConnections();
    setImmediate(() => process.exit(0));
    return null;
  },
});
