/**
 * The real side of the position model tests: nodes (hubs with a `chat`
 * notifier and a small `history: { size }`) reached through fake requests
 * (fake.ts: every library line, no sockets), that can die abruptly (their
 * clients' streams cut, then the hub closed) and start again on the same
 * bus, and whose bus connection can be cut for a while: on an in-process
 * broker through FlakyBus (test/fixtures/flaky-bus.ts), on Redis through a TCP proxy in front of
 * Redis for each node. A restart on a local bus is a new process's history:
 * a new epoch for every key.
 */

import { createClient } from "redis";
import { topicOf } from "../../protocol/keys.js";
import {
  type Bus,
  createHub,
  defineNotifier,
  type Hub,
  InProcessBroker,
  type Notifier,
} from "../../server/index.js";
import { topicChannel } from "../../server/messages.js";
import { redisBus } from "../../server/redis.js";
import { redisNames } from "../../server/redis-history.js";
import { FlakyBus } from "../fixtures/flaky-bus.js";
import { TcpProxy } from "../fixtures/proxy.js";
import { dispatch, type FakeResponse, fakeRequest, finished } from "./fake.js";
import { PKEYS } from "./positions-model.js";
import { waitFor } from "./sse.js";

const chat = defineNotifier<string, number>("chat");

export interface PWorldOptions {
  readonly bus: "local" | "broker" | "redis";
  readonly nodes: number;
  /** `history: { size }`: small, so that a key's history overflows. */
  readonly size: number;
  readonly redisUrl?: string;
}

/** One node: a hub while it lives, and the requests a client sends it. */
export interface PNode {
  hub: Hub<null> | undefined;
  chat: Notifier<string, number, number, null> | undefined;
  /** Counts the hubs this node has had: a session lives only as long as its hub. */
  life: number;
}

export interface Reply {
  readonly status: number;
  readonly text: string;
}

export interface PWorld {
  readonly options: PWorldOptions;
  readonly nodes: PNode[];
  /** Starts node `i` (again): a new hub on the same bus. */
  start(i: number): Promise<void>;
  /** Node `i` dies: `conns` (its clients' streams) cut first, then its hub closed. */
  kill(i: number, conns: readonly FakeResponse[]): Promise<void>;
  /** Cuts node `i`'s bus connection until `restore`; resolves once the node knows. */
  cut(i: number): Promise<void>;
  /** Restores it; resolves once the node's bus is `ok` again. */
  restore(i: number): Promise<void>;
  open(i: number, lastEventId?: string): Promise<FakeResponse>;
  post(i: number, path: "/listen", body: unknown): Promise<Reply>;
  /**
   * Deletes every Redis key of this world (the history of every key);
   * resolves to each key's epoch just before (when it had one); `undefined` off Redis.
   */
  flush(): Promise<Map<string, string> | undefined>;
  close(): Promise<void>;
}

export async function makePWorld(options: PWorldOptions): Promise<PWorld> {
  const broker = new InProcessBroker();
  const prefix = `relpos:${Math.random().toString(36).slice(2, 10)}:`;
  const buses: (FlakyBus | undefined)[] = [];
  const proxies: TcpProxy[] = [];
  if (options.bus === "redis") {
    const port = Number(new URL(options.redisUrl ?? "redis://127.0.0.1:6379").port || 6379);
    for (let i = 0; i < options.nodes; i += 1) proxies.push(await TcpProxy.start(port));
  }
  const nodes: PNode[] = Array.from({ length: options.nodes }, () => ({
    hub: undefined,
    chat: undefined,
    life: 0,
  }));

  function makeBus(i: number): Bus | undefined {
    if (options.bus === "local") return undefined;
    if (options.bus === "redis") {
      return redisBus({ url: `redis://127.0.0.1:${(proxies[i] as TcpProxy).port}`, prefix });
    }
    const bus = new FlakyBus(broker);
    buses[i] = bus;
    return bus;
  }

  const hubOf = (i: number): Hub<null> => {
    const hub = nodes[i]?.hub;
    if (!hub) throw new Error(`node ${i} is dead`);
    return hub;
  };
  const status = (i: number) => hubOf(i).stats().bus;

  const world: PWorld = {
    options,
    nodes,
    async start(i) {
      const node = nodes[i] as PNode;
      proxies[i]?.up(); // a node that died cut off starts with its network back
      const bus = makeBus(i);
      const hub = createHub<null>({
        history: { size: options.size },
        sessionTimeout: 600_000,
        heartbeat: 600_000,
        closeWindow: 0,
        onError: () => {}, // bus faults are this test's doing; the judge is what clients get
        ...(bus ? { bus } : {}),
      });
      node.hub = hub;
      node.chat = hub.notifier(chat);
      node.life += 1;
      if (options.bus === "redis") await waitFor(() => status(i) === "ok", 5_000, "Redis up");
    },
    async kill(i, conns) {
      const hub = hubOf(i);
      for (const conn of conns) conn.drop();
      const node = nodes[i] as PNode;
      node.hub = undefined;
      node.chat = undefined;
      await hub.close();
    },
    async cut(i) {
      if (options.bus === "broker") buses[i]?.cut();
      else (proxies[i] as TcpProxy).down();
      await waitFor(() => status(i) === "degraded", 5_000, "the node to see its bus down");
    },
    async restore(i) {
      if (options.bus === "broker") buses[i]?.restore();
      else (proxies[i] as TcpProxy).up();
      await waitFor(() => status(i) === "ok", 10_000, "the node's bus back");
    },
    async open(i, lastEventId) {
      const headers: Record<string, string> = lastEventId ? { "last-event-id": lastEventId } : {};
      return dispatch(hubOf(i).router(), fakeRequest("GET", "/events", headers));
    },
    async post(i, path, body) {
      const headers = { "content-type": "application/json" };
      const req = fakeRequest("POST", path, headers, JSON.stringify(body));
      const res = await finished(await dispatch(hubOf(i).router(), req));
      return { status: res.statusCode, text: res.body };
    },
    async flush() {
      if (options.bus !== "redis") return undefined;
      const admin = createClient({ url: options.redisUrl });
      await admin.connect();
      const epochs = new Map<string, string>();
      try {
        for (const key of PKEYS) {
          const { meta } = redisNames(prefix, topicChannel(topicOf("chat", JSON.stringify(key))));
          const epoch = await admin.hGet(meta, "e");
          if (epoch) epochs.set(key, epoch);
        }
        for await (const names of admin.scanIterator({ MATCH: `*${prefix}*`, COUNT: 1000 }))
          if (names.length > 0) await admin.del(names);
      } finally {
        admin.destroy();
      }
      return epochs;
    },
    async close() {
      await Promise.all(nodes.map((node) => node.hub?.close()));
      await Promise.all(proxies.map((proxy) => proxy.close()));
    },
  };
  for (let i = 0; i < options.nodes; i += 1) await world.start(i);
  return world;
}
