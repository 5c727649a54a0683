/**
 * The real side of the model tests: one or more hubs with the model's three
 * notifiers, reached through fake requests (every library line, no sockets)
 * or real HTTP, on a local, in-process or Redis bus; async `prepare` calls
 * the test settles by hand; a frozen clock that moves only when the model
 * says "time passes beyond sessionTimeout".
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Bus, Hub, HubStats, Notifier } from "../../server/index.js";
import { createHub, defineNotifier, InProcessBroker, inProcessBus } from "../../server/index.js";
import { redisBus } from "../../server/redis.js";
import { startServer } from "../helpers.js";
import { dispatch, fakeRequest, finished } from "./fake.js";
import { answersLater, type Identity, type NotifierName, outcome } from "./model.js";
import { openSse, type ParsedEvent, request, waitFor } from "./sse.js";

/** A client's view of one stream. */
export interface Conn {
  readonly events: readonly ParsedEvent[];
  readonly ended: boolean;
  drop(): void;
}

export interface Reply {
  readonly status: number;
  readonly code: string | undefined;
  readonly text: string;
}

export type Path = "/listen" | "/unlisten" | "/close";

export interface WorldNode {
  readonly hub: Hub<Identity>;
  readonly notifiers: Record<NotifierName, Notifier<unknown, unknown, unknown, Identity>>;
  /** `GET /events`, with a Last-Event-ID as header or `?lastEventId=`. */
  open(identity: Identity, lastEventId?: string, via?: "header" | "query"): Promise<Conn>;
  post(path: Path, body: string, identity: Identity, contentType?: string): Promise<Reply>;
  close(): Promise<void>;
}

export interface WorldOptions {
  /** Fake sockets through hub.router(); Express over HTTP; hub.handler() on a bare node:http server. */
  readonly transport: "fake" | "http" | "handler";
  readonly nodes: number;
  readonly bus: "local" | "broker" | "redis";
  readonly retention: number;
  readonly maxKeys: number;
  readonly redisUrl?: string;
  /** Redis channel prefix (a fresh one per world by default). */
  readonly prefix?: string;
}

/** Date.now frozen while a world lives; `advance` is the only way time passes for the hubs. */
class FrozenClock {
  readonly #real = Date.now;
  #now = 0;
  #users = 0;

  install(): void {
    if (this.#users++ > 0) return;
    this.#now = this.#real.call(Date);
    Date.now = () => this.#now;
  }

  uninstall(): void {
    if (--this.#users > 0) return;
    Date.now = this.#real;
  }

  advance(ms: number): void {
    this.#now += ms;
  }
}

export const clock = new FrozenClock();

/** Hub option: short enough that the sweep runs every 10 ms; time only moves by `advance`. */
export const SESSION_TIMEOUT = 40;

type Settle = { resolve(value: unknown): void; reject(error: Error): void };

export interface World {
  readonly options: WorldOptions;
  readonly nodes: WorldNode[];
  readonly prepareCalls: number[];
  /** onError reports other than the expected prepare failures. */
  readonly unexpected: { error: Error; context: object }[];
  /** The barrier sessions' share of each node's stats. */
  readonly extra: { sessions: number; streams: number; keys: number; listens: number };
  /** Settles the real async prepare call of (node, v, identity) as the model says. */
  settle(node: number, v: number, identity: Identity): void;
  /** Resolves once every node has handled every bus message sent so far. */
  barrier(): Promise<void>;
  stats(node: number): HubStats;
  close(): Promise<void>;
}

const defs = {
  plain: defineNotifier<unknown, unknown>("plain"),
  prep: defineNotifier<unknown, unknown>("prep"),
  async: defineNotifier<unknown, unknown>("async"),
  bar: defineNotifier<string, number>("bar"),
};

function sync(identity: Identity, v: number): string | undefined {
  const result = outcome(identity, v);
  if (result.type === "throw") throw new Error(`prepare refuses ${v} for ${identity}`);
  return result.type === "value" ? result.value : undefined;
}

function userHeader(identity: Identity): Record<string, string> {
  return identity === null ? {} : { "x-user": identity };
}

export async function makeWorld(options: WorldOptions): Promise<World> {
  clock.install();
  const prepareCalls = Array.from({ length: options.nodes }, () => 0);
  const unexpected: { error: Error; context: object }[] = [];
  const waiting = new Map<string, Settle>();
  const broker = new InProcessBroker();
  const prefix = options.prefix ?? `rel:${Math.random().toString(36).slice(2, 10)}:`;
  const agent = new http.Agent({ keepAlive: true });

  function makeBus(): Bus | undefined {
    if (options.bus === "broker") return inProcessBus(broker);
    if (options.bus === "redis") return redisBus({ url: options.redisUrl, prefix });
    return undefined;
  }

  async function makeNode(
    index: number,
  ): Promise<WorldNode & { bar: Notifier<string, number, number, Identity> }> {
    const bus = makeBus();
    const hubOptions = {
      identify: (req: { headers: Record<string, unknown> }) =>
        ((req.headers["x-user"] as Identity | undefined) ?? null) as Identity,
      sessionTimeout: SESSION_TIMEOUT,
      heartbeat: 600_000,
      retention: options.retention,
      maxKeysPerSession: options.maxKeys,
      onError: (error: Error, context: object) => {
        if ((context as { during?: string }).during !== "prepare")
          unexpected.push({ error, context });
      },
      ...(bus ? { bus } : {}),
    };
    let hub: Hub<Identity>;
    let base = "";
    let closeServer: (() => Promise<void>) | undefined;
    if (options.transport === "http") {
      const server = await startServer<Identity>(hubOptions);
      hub = server.hub;
      base = server.url;
      closeServer = () => server.close();
    } else if (options.transport === "handler") {
      hub = createHub<Identity>(hubOptions);
      const served = hub.handler("/notif");
      const server = http.createServer((req, res) => {
        if (!served(req, res)) res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notif`;
      closeServer = async () => {
        await hub.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      };
    } else {
      hub = createHub<Identity>(hubOptions);
    }
    const router = hub.router();
    const notifiers = {
      plain: hub.notifier(defs.plain),
      prep: hub.notifier(defs.prep, {
        prepare: (identity, v: unknown) => {
          prepareCalls[index] = (prepareCalls[index] ?? 0) + 1;
          return sync(identity, v as number);
        },
      }),
      async: hub.notifier(defs.async, {
        prepare: (identity, v: unknown) => {
          prepareCalls[index] = (prepareCalls[index] ?? 0) + 1;
          if (!answersLater(identity)) return sync(identity, v as number);
          return new Promise((resolve, reject) => {
            waiting.set(`${index} ${v} ${identity}`, { resolve, reject });
          });
        },
      }),
    } as Record<NotifierName, Notifier<unknown, unknown, unknown, Identity>>;
    const bar = hub.notifier(defs.bar);

    async function open(identity: Identity, lastEventId?: string, via = "header"): Promise<Conn> {
      const headers: Record<string, string> = userHeader(identity);
      let path = "/events";
      // over HTTP a header travels as bytes (UTF-8 read as latin1); one with CR, LF or
      // other controls cannot be sent at all, so it goes in the query instead
      const bytes = Buffer.from(lastEventId ?? "", "utf8").toString("latin1");
      const fake = options.transport === "fake";
      const sendable = fake || !/[^\t\x20-\x7e\x80-\xff]/.test(bytes);
      if (lastEventId !== undefined && (via === "query" || !sendable)) {
        path += `?lastEventId=${encodeURIComponent(lastEventId)}`;
      } else if (lastEventId !== undefined) {
        headers["last-event-id"] = fake ? lastEventId : bytes;
      }
      if (options.transport === "fake") {
        const res = await dispatch(router, fakeRequest("GET", path, headers));
        return res;
      }
      const conn = await openSse(`${base}${path}`, { headers });
      await waitFor(() => conn.events.length > 0 || conn.ended, 3_000, "the session event");
      return conn;
    }

    async function post(path: Path, body: string, identity: Identity, type = "application/json") {
      const headers = { "content-type": type, ...userHeader(identity) };
      if (options.transport === "fake") {
        const res = await finished(
          await dispatch(router, fakeRequest("POST", path, headers, body)),
        );
        return { status: res.statusCode, code: codeOf(res.body), text: res.body };
      }
      const answer = await request(`${base}${path}`, { headers, body, agent });
      return { status: answer.status, code: answer.code, text: answer.text };
    }

    return {
      hub,
      notifiers,
      bar,
      open,
      post,
      close: async () => {
        if (closeServer) await closeServer();
        else await hub.close();
      },
    };
  }

  const nodes: Awaited<ReturnType<typeof makeNode>>[] = [];
  for (let i = 0; i < options.nodes; i += 1) nodes.push(await makeNode(i));

  // Barrier sessions: one per node, listening to `bar`, so that a marker sent
  // after a notify tells when every node has handled the notify's bus message.
  const barriers: Conn[] = [];
  if (options.nodes > 1) {
    for (const node of nodes) {
      const conn = await node.open(null);
      const session = (JSON.parse(conn.events[0]?.data ?? "{}") as { session: string }).session;
      const reply = await node.post(
        "/listen",
        JSON.stringify({ session, notifier: "bar", key: "x" }),
        null,
      );
      if (reply.status !== 204) throw new Error(`barrier listen: ${reply.status} ${reply.text}`);
      barriers.push(conn);
    }
  }
  let marker = 0;
  const one = options.nodes > 1 ? 1 : 0;

  return {
    options,
    nodes,
    prepareCalls,
    unexpected,
    extra: { sessions: one, streams: one, keys: one, listens: one },
    settle(node, v, identity) {
      const name = `${node} ${v} ${identity}`;
      const entry = waiting.get(name);
      if (!entry) throw new Error(`no pending prepare ${name}`);
      waiting.delete(name);
      const result = outcome(identity, v);
      if (result.type === "throw") entry.reject(new Error(`prepare refuses ${v} for ${identity}`));
      else entry.resolve(result.type === "value" ? result.value : undefined);
    },
    async barrier() {
      if (barriers.length === 0) return;
      const sent: string[] = [];
      for (const node of nodes) {
        marker += 1;
        sent.push(`"data":${marker}`);
        await node.bar.notify("x", marker);
      }
      // the marker's data, then its pos (history on) or the end of the JSON
      const got = (conn: Conn, tail: string) =>
        conn.events.some((e) => e.data.includes(`${tail},"pos":`) || e.data.endsWith(`${tail}}`));
      await waitFor(
        () => barriers.every((conn) => sent.every((tail) => got(conn, tail))),
        5_000,
        "the bus barrier",
      );
    },
    stats: (node) => (nodes[node] as WorldNode).hub.stats(),
    async close() {
      try {
        for (const conn of barriers) conn.drop();
        await Promise.all(nodes.map((node) => node.close()));
        agent.destroy();
      } finally {
        clock.uninstall();
      }
    },
  };
}

function codeOf(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}
