/**
 * The multi-node suite every shared bus must pass: two hubs on two servers,
 * joined by a bus, with listens and notifies on either node.
 */
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import type { Bus } from "../../server/bus.js";
import type { Hub } from "../../server/index.js";
import {
  client,
  closeAll,
  listen,
  notifications,
  openSession,
  post,
  startServer,
  until,
} from "../helpers.js";

const chat = defineNotifier<string, string>("chat");

/** Wraps a bus to record the topic messages it hands to its hub, its subscribes and unsubscribes. */
export function counting(
  bus: Bus,
): Bus & { received: string[]; subscribed: string[]; unsubscribed: string[] } {
  const received: string[] = [];
  const subscribed: string[] = [];
  const unsubscribed: string[] = [];
  return {
    received,
    subscribed,
    unsubscribed,
    kind: bus.kind,
    start: (context) => bus.start(context),
    status: () => bus.status(),
    publish: (channel, message) => bus.publish(channel, message),
    // history passes through, so that the suite runs with positions as hubs do by default
    ...(bus.append && bus.read ? { append: bus.append.bind(bus), read: bus.read.bind(bus) } : {}),
    close: () => bus.close(),
    async subscribe(channel, onMessage) {
      const unsubscribe = await bus.subscribe(channel, (message) => {
        if (channel.startsWith("t:")) received.push(message);
        onMessage(message);
      });
      subscribed.push(channel);
      return async () => {
        await unsubscribe();
        unsubscribed.push(channel);
      };
    },
  };
}

export function multiNodeSuite(
  name: string,
  makeBus: () => Bus,
  before?: (this: Mocha.Context) => Promise<void>,
) {
  describe(`many nodes: ${name}`, function () {
    if (before) this.beforeAll(before);
    afterEach(closeAll);

    async function nodes(count = 2, options: { prepare?: boolean } = {}) {
      const calls: string[] = [];
      const made = [];
      for (let i = 0; i < count; i += 1) {
        const bus = counting(makeBus());
        const server = await startServer<string | null>({ bus, retry: 20 });
        const n = server.hub.notifier(chat, {
          ...(options.prepare
            ? {
                prepare: (identity: string | null, value: string) => {
                  calls.push(`node${i}:${identity}`);
                  return `${value} for ${identity}`;
                },
              }
            : {}),
        });
        made.push({ ...server, bus, n });
      }
      return { nodes: made, calls };
    }

    it("delivers a notify from any node to listeners on every node, each prepared on its own node", async () => {
      const {
        nodes: [a, b],
        calls,
      } = await nodes(2, { prepare: true });
      const onA = await openSession(a!.url, "ann");
      const onB = await openSession(b!.url, "bob");
      await listen(a!.url, onA.session(), "chat", "k", { "x-user": "ann" });
      await listen(b!.url, onB.session(), "chat", "k", { "x-user": "bob" });
      await a!.n.notify("k", "from a");
      // No wait in between: every node, the notifying one too, sees the bus's order.
      await b!.n.notify("k", "from b");
      await until(() => onA.events.length === 3 && onB.events.length === 3, 3_000, "deliveries");
      expect(notifications(onA).map((e) => e.data)).to.deep.equal([
        "from a for ann",
        "from b for ann",
      ]);
      expect(notifications(onB).map((e) => e.data)).to.deep.equal([
        "from a for bob",
        "from b for bob",
      ]);
      expect(calls.sort()).to.deep.equal(["node0:ann", "node0:ann", "node1:bob", "node1:bob"]);
    });

    it("keeps notify order on a key across nodes: awaited notifies from alternating nodes arrive in order everywhere", async () => {
      const {
        nodes: [a, b],
      } = await nodes();
      const onA = await openSession(a!.url);
      const onB = await openSession(b!.url);
      await listen(a!.url, onA.session(), "chat", "k");
      await listen(b!.url, onB.session(), "chat", "k");
      for (let i = 0; i < 60; i += 1) await (i % 2 ? b : a)!.n.notify("k", `m${i}`);
      await until(
        () => onA.events.length === 61 && onB.events.length === 61,
        5_000,
        "every delivery",
      );
      const expected = Array.from({ length: 60 }, (_, i) => `m${i}`);
      expect(notifications(onA).map((e) => e.data)).to.deep.equal(expected);
      expect(notifications(onB).map((e) => e.data)).to.deep.equal(expected);
    });

    it("sends a node bus traffic only for keys its sessions listen to", async () => {
      const {
        nodes: [a, b],
      } = await nodes();
      const onB = await openSession(b!.url);
      await listen(b!.url, onB.session(), "chat", "mine");
      for (let i = 0; i < 5; i += 1) await a!.n.notify(`other${i}`, "x");
      await a!.n.notify("mine", "y");
      await onB.event(1);
      expect(b!.bus.received.map((m) => JSON.parse(m).key)).to.deep.equal(["mine"]);
      await listen(b!.url, onB.session(), "chat", "marker");
      await post(`${b!.url}/unlisten`, { session: onB.session(), notifier: "chat", key: "mine" });
      await until(() => b!.bus.unsubscribed.includes('t:chat:"mine"'), 3_000, "the unsubscribe");
      await a!.n.notify("mine", "after");
      await a!.n.notify("marker", "m");
      await onB.event(2);
      expect(b!.bus.received.map((m) => JSON.parse(m).key)).to.deep.equal(["mine", "marker"]);
    });

    it("applies /listen, /unlisten and /close sent to another node than the stream's", async () => {
      const {
        nodes: [a, b],
      } = await nodes();
      const onB = await openSession(b!.url, "ann");
      const session = onB.session();
      const headers = { "x-user": "ann" };
      expect((await listen(a!.url, session, "chat", "k", headers)).status).to.equal(204);
      expect(b!.n.listeners("k")).to.equal(1);
      expect(a!.n.listeners("k")).to.equal(0);
      await a!.n.notify("k", "via a");
      await onB.event(1);
      const unlisten = await post(
        `${a!.url}/unlisten`,
        { session, notifier: "chat", key: "k" },
        headers,
      );
      expect(unlisten.status).to.equal(204);
      expect(b!.n.listeners("k")).to.equal(0);
      expect((await post(`${a!.url}/close`, { session }, headers)).status).to.equal(204);
      await onB.ended();
      expect(b!.hub.stats().sessions).to.equal(0);
    });

    it("lets another node reach a session opened the moment its node started", async () => {
      const one = await nodes(1);
      const a = one.nodes[0];
      const bus = makeBus();
      const slowStart: Bus = {
        kind: bus.kind,
        start: async (context) => {
          await new Promise((resolve) => setTimeout(resolve, 200)); // a slow connect
          await bus.start(context);
        },
        status: () => bus.status(),
        publish: (channel, message) => bus.publish(channel, message),
        subscribe: (channel, onMessage) => bus.subscribe(channel, onMessage),
        close: () => bus.close(),
      };
      const fresh = await startServer<string | null>({
        bus: slowStart,
        retry: 20,
        requestTimeout: 1_000,
      });
      const n = fresh.hub.notifier(chat);
      const raw = await openSession(fresh.url); // the node may still be joining the bus
      expect((await listen(a!.url, raw.session(), "chat", "k")).status).to.equal(204);
      expect(n.listeners("k")).to.equal(1);
    });

    it("answers a forwarded request with the holding node's errors", async () => {
      const {
        nodes: [a, b],
      } = await nodes();
      const onB = await openSession(b!.url, "ann");
      const session = onB.session();
      const foreign = await listen(a!.url, session, "chat", "k", { "x-user": "eve" });
      expect(foreign.status).to.equal(403);
      const unknown = await listen(a!.url, session, "nochat", "k", { "x-user": "ann" });
      expect(unknown).to.deep.include({ status: 404 });
      await post(`${b!.url}/close`, { session }, { "x-user": "ann" });
      const gone = await listen(a!.url, session, "chat", "k", { "x-user": "ann" });
      expect(gone.status).to.equal(410);
      expect((gone.body as { error: { code: string } }).error.code).to.equal("unknown_session");
    });

    it("lets server code listen a session held by another node", async () => {
      const {
        nodes: [a, b],
      } = await nodes();
      const onB = await openSession(b!.url);
      await a!.n.listen(onB.session(), "k");
      expect(b!.n.listeners("k")).to.equal(1);
      await a!.n.notify("k", "hi");
      await onB.event(1);
      await a!.n.unlisten(onB.session(), "k");
      expect(b!.n.listeners("k")).to.equal(0);
    });

    it("excludes notfor's session and identity wherever they live", async () => {
      const {
        nodes: [a, b],
      } = await nodes();
      const ann = await openSession(b!.url, "ann");
      const bob = await openSession(b!.url, "bob");
      const bob2 = await openSession(a!.url, "bob");
      for (const [raw, user, node] of [
        [ann, "ann", b],
        [bob, "bob", b],
        [bob2, "bob", a],
      ] as const) {
        await listen(node!.url, raw.session(), "chat", "k", { "x-user": user });
      }
      await a!.n.notify("k", "not ann", { notfor: { session: ann.session() } });
      await a!.n.notify("k", "not bob", { notfor: { identity: "bob" } });
      await until(
        () => ann.events.length === 2 && bob.events.length === 2 && bob2.events.length === 2,
      );
      expect(notifications(ann).map((e) => e.data)).to.deep.equal(["not bob"]);
      expect(notifications(bob).map((e) => e.data)).to.deep.equal(["not ann"]);
      expect(notifications(bob2).map((e) => e.data)).to.deep.equal(["not ann"]);
    });

    it("unlistenIdentity reaches every node", async () => {
      const {
        nodes: [a, b],
      } = await nodes();
      const onA = await openSession(a!.url, "ann");
      const onB = await openSession(b!.url, "ann");
      await listen(a!.url, onA.session(), "chat", "k", { "x-user": "ann" });
      await listen(b!.url, onB.session(), "chat", "k", { "x-user": "ann" });
      await a!.n.unlistenIdentity("ann", "k");
      await until(() => b!.n.listeners("k") === 0, 3_000, "the other node to unlisten");
      expect(a!.n.listeners("k")).to.equal(0);
    });

    it("a client whose stream moves to another node gets a new session and listens again", async () => {
      const {
        nodes: [a, b],
      } = await nodes();
      let target = a!.url;
      const c = client("http://placeholder/notif", {
        fetch: (input, init) =>
          fetch(String(input).replace("http://placeholder/notif", target), init),
      });
      const got: unknown[] = [];
      c.on(chat, (_key, value) => got.push(value));
      await c.listen(chat, "k");
      const first = c.session();
      expect(a!.n.listeners("k")).to.equal(1);
      target = b!.url;
      a!.server.closeAllConnections();
      await until(() => c.session() !== first && b!.n.listeners("k") === 1, 5_000, "the move");
      // the listen counts at once, and is answered once b's subscription is in effect
      await until(() => b!.bus.subscribed.includes('t:chat:"k"'), 3_000, "b's subscription");
      await a!.n.notify("k", "found you");
      await until(() => got.includes("found you"), 3_000, "delivery through the other node");
    });

    it("times out a request to a node that is gone", async () => {
      const bus = makeBus();
      const a = await startServer({ bus, requestTimeout: 200 });
      a.hub.notifier(chat);
      const dead = `ghostnode.${"x".repeat(24)}`;
      const res = await listen(a.url, dead, "chat", "k");
      expect(res.status).to.equal(504);
      expect((res.body as { error: { code: string } }).error.code).to.equal("timeout");
    });
  });
}

/** Keeps `Hub` in the import list used by the suite's types. */
export type { Hub };
