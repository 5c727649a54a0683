/**
 * A rolling restart (a deploy, SPEC §6): three node processes on Redis
 * behind a round-robin TCP proxy, 21 real clients spread over them, notifies
 * going on all the time. Each node in turn gets SIGTERM (`hub.close()` with
 * its close window), and a new process starts on its port. Every client
 * must end with every notification of its keys exactly once, in order, and
 * never be told a gap. On a failure the test prints, per client, what is
 * missing and the path of its session (which node, new or resumed, each
 * listen and its answer).
 */
import { expect } from "chai";
import type { NotifClient, NotifStatus } from "../../client/index.js";
import { defineNotifier } from "../../protocol/contract.js";
import { requireRedis } from "../bus/helpers.js";
import { killNodes, type NodeProcess, notifyOn, startNodeProcess } from "../fixtures/nodes.js";
import { TcpProxy } from "../fixtures/proxy.js";
import { client, closeAll, until } from "../helpers.js";

const chat = defineNotifier<string, string>("chat");
const KEYS = ["k0", "k1", "k2", "k3", "k4", "k5"];
const CLIENTS = 21;
const CLOSE_WINDOW = 1_000;

/** One client and what it saw. */
interface Watched {
  readonly client: NotifClient;
  readonly keys: readonly string[];
  readonly got: Map<string, string[]>;
  readonly statuses: NotifStatus[];
  /** Requests it made (stream and POSTs) with the node (pid) that answered. */
  readonly log: string[];
}

function watch(url: string, index: number): Watched {
  const keys = [0, 1, 2].map((i) => KEYS[(index + i) % KEYS.length] as string);
  const log: string[] = [];
  const logged: typeof fetch = async (input, init) => {
    const body = typeof init?.body === "string" ? ` ${init.body}` : "";
    const path = String(input).replace(/^.*\/notif/, "");
    const sentAt = Date.now() % 100000;
    try {
      const res = await fetch(input, init);
      const text = res.headers.get("content-type")?.includes("json")
        ? ` ${await res.clone().text()}`
        : "";
      log.push(
        `${sentAt}-${Date.now() % 100000} ${init?.method ?? "GET"} ${path}${body} → ${res.status}@${res.headers.get("x-node")}${text}`,
      );
      return res;
    } catch (error) {
      log.push(
        `${Date.now() % 100000} ${init?.method ?? "GET"} ${path}${body} → ${(error as Error).message}`,
      );
      throw error;
    }
  };
  const made = client(url, { reconnect: { retry: 50 }, fetch: logged });
  const got = new Map<string, string[]>(keys.map((key) => [key, []]));
  const statuses: NotifStatus[] = [];
  made.on(chat, (key, value) => {
    got.get(key)?.push(value.split(" ")[0] as string);
    log.push(`got ${value}`);
  });
  made.onStatus((status) => {
    statuses.push(status);
    log.push(`${Date.now() % 100000} status ${JSON.stringify(status)}`);
  });
  return { client: made, keys, got, statuses, log };
}

/** What a client lacks or has wrong: missing, duplicated, out of order, per key. */
function faults(watched: Watched, sent: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const key of watched.keys) {
    const want = sent.get(key) ?? [];
    const had = watched.got.get(key) ?? [];
    const missing = want.filter((v) => !had.includes(v));
    const twice = had.filter((v, i) => had.indexOf(v) !== i);
    const order = had.filter((v) => want.indexOf(v) >= 0);
    const sorted = [...order].sort((x, y) => want.indexOf(x) - want.indexOf(y));
    if (missing.length > 0) out.push(`${key} missing ${missing.join(",")}`);
    if (twice.length > 0) out.push(`${key} twice ${twice.join(",")}`);
    if (order.join() !== sorted.join()) out.push(`${key} out of order`);
  }
  return out;
}

describe("rolling restart, real processes on Redis", function () {
  this.timeout(120_000);
  before(requireRedis);
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await closeAll();
    await proxy?.close();
    killNodes();
  });

  it("restarting three nodes in turn under continuous notifies: every client gets everything once, in order, never a gap", async () => {
    const prefix = `sse-notif-roll:${Date.now().toString(36)}:`;
    const start = (port?: number) =>
      startNodeProcess(prefix, { closeWindow: CLOSE_WINDOW, ...(port ? { port } : {}) });
    const nodes: (NodeProcess | undefined)[] = await Promise.all([start(), start(), start()]);
    const ports = nodes.map((node) => (node as NodeProcess).port);
    proxy = await TcpProxy.start(...ports);
    const url = `${proxy.origin}/notif`;
    const clients = Array.from({ length: CLIENTS }, (_, i) => watch(url, i));
    await Promise.all(clients.flatMap((w) => w.keys.map((key) => w.client.listen(chat, key))));
    for (const node of nodes) {
      const stats = (await (await fetch(`${node?.url}/stats`)).json()) as { streams: number };
      expect(stats.streams, "clients on every node").to.be.greaterThan(0);
    }

    const sent = new Map<string, string[]>(KEYS.map((key) => [key, []]));
    let notifying = true;
    /** Notifies its keys one after another, each from the next live node that accepts it. */
    const driver = async (keys: readonly string[], first: number) => {
      for (let n = 0, turn = first; notifying; n += 1) {
        const key = keys[n % keys.length] as string;
        const value = `${key}.${sent.get(key)?.length}`;
        for (;;) {
          const node = nodes[turn++ % nodes.length];
          if (node && (await notifyOn(node, key, value).catch(() => false))) break;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        sent.get(key)?.push(value);
      }
    };
    // three at once, each on keys of its own (the order on one key is the order of its notifies)
    const drivers = Promise.all([0, 1, 2].map((j) => driver(KEYS.slice(2 * j, 2 * j + 2), j)));
    const progressed = async (count: number) => {
      const total = () => [...sent.values()].reduce((sum, values) => sum + values.length, 0);
      const target = total() + count;
      await until(() => total() >= target, 20_000, `${count} more notifies`);
    };

    await progressed(60);
    // The proxy goes on routing to the closing node (no health check): the clients must cope.
    for (const [i, node] of nodes.entries()) {
      nodes[i] = undefined; // no notify from it from now on
      (node as NodeProcess).process.kill("SIGTERM");
      await (node as NodeProcess).exited;
      nodes[i] = await start(ports[i]);
      await progressed(60);
    }
    notifying = false;
    await drivers;

    const done = () => clients.every((w) => faults(w, sent).length === 0);
    try {
      await until(done, 20_000, "every client to have every notification");
    } catch (error) {
      for (const [i, w] of clients.entries()) {
        const wrong = faults(w, sent);
        if (wrong.length > 0)
          console.log(`client ${i}: ${wrong.join("; ")}\n  ${w.log.join("\n  ")}`);
      }
      throw error;
    }
    for (const w of clients) {
      expect(faults(w, sent)).to.deep.equal([]);
      expect(w.statuses.filter((s) => s.gap || s.lost.length > 0)).to.deep.equal([]);
    }
  });
});
