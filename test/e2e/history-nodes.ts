/**
 * History across nodes, for every shared bus with history: a client
 * recovers on another node by position; a listen with `since` forwarded to
 * the node holding the session; a node that missed messages fills the hole
 * from the history, or tells `gap` naming exactly the keys that lost data.
 */
import { expect } from "chai";
import type { Bus } from "../../server/bus.js";
import type { HubOptions } from "../../server/index.js";
import { closeAll, startServer, until } from "../helpers.js";
import { after0, chat, epochOf, event, rawListen, stream } from "./history.js";

/** A bus whose topic messages can be dropped on the way in (a subscriber that missed them). */
export function lossy(bus: Bus): Bus & { drop: boolean; dropped: number; failReads: boolean } {
  const wrapped = {
    drop: false,
    dropped: 0,
    failReads: false,
    kind: bus.kind,
    start: (context: Parameters<Bus["start"]>[0]) => bus.start(context),
    status: () => bus.status(),
    publish: (channel: string, message: string) => bus.publish(channel, message),
    close: () => bus.close(),
    append: bus.append?.bind(bus),
    read: async (...args: Parameters<NonNullable<Bus["read"]>>) => {
      if (wrapped.failReads) throw new Error("the history is unreachable");
      return (bus.read as NonNullable<Bus["read"]>)(...args);
    },
    async subscribe(channel: string, onMessage: (message: string) => void) {
      return bus.subscribe(channel, (message) => {
        if (wrapped.drop && channel.startsWith("t:")) wrapped.dropped += 1;
        else onMessage(message);
      });
    },
  };
  return wrapped;
}

export function historyNodesSuite(
  name: string,
  makeBus: () => Bus,
  before?: (this: Mocha.Context) => Promise<void>,
) {
  describe(`history across nodes: ${name}`, function () {
    this.timeout(20_000);
    if (before) this.beforeAll(before);
    afterEach(closeAll);

    async function node(options: HubOptions<string | null> = {}, bus = makeBus()) {
      const server = await startServer({ bus, closeWindow: 0, ...options });
      return { ...server, bus, n: server.hub.notifier(chat) };
    }

    it("carries a client across the node that held its session: recovered on another node, missed ones once, in order", async () => {
      const a = await node();
      const b = await node();
      const onA = await stream(a.url);
      await rawListen(a.url, { session: onA.session(), notifier: "chat", key: "k" });
      await b.n.notify("k", "m1");
      const pos = JSON.parse((await onA.event(1)).data).pos as string;
      await a.close(); // the node holding the session is gone
      for (const text of ["m2", "m3"]) await b.n.notify("k", text);
      const onB = await stream(b.url);
      const session = onB.session();
      const answer = await rawListen(b.url, {
        session,
        items: [{ notifier: "chat", key: "k", since: pos }],
      });
      const epoch = epochOf(pos);
      expect(answer.text).to.equal(`{"items":[{"pos":"${epoch}-3","recovered":true}]}`);
      await b.n.notify("k", "m4");
      await onB.event(3);
      expect(after0(onB)).to.equal(
        event(session, 1, "k", "m2", `${epoch}-2`) +
          event(session, 2, "k", "m3", `${epoch}-3`) +
          event(session, 3, "k", "m4", `${epoch}-4`),
      );
    });

    it("answers a listen with since forwarded to the node holding the session", async () => {
      const a = await node();
      const b = await node();
      const raw = await stream(a.url);
      const session = raw.session();
      await a.n.notify("k", "before");
      const answer = await rawListen(b.url, {
        session,
        items: [{ notifier: "chat", key: "k", since: null }],
      });
      expect(answer.status).to.equal(200);
      const pos = JSON.parse(answer.text).items[0].pos as string;
      expect(answer.text).to.equal(`{"items":[{"pos":"${epochOf(pos)}-1","recovered":null}]}`);
      const bad = await rawListen(b.url, {
        session,
        items: [{ notifier: "chat", key: "k", since: 7 }],
      });
      expect(bad.status).to.equal(400);
      await b.n.notify("k", "after");
      await raw.event(1);
      expect(after0(raw)).to.equal(event(session, 1, "k", "after", `${epochOf(pos)}-2`));
    });

    it("fills from the history what a node's subscription missed, in order, before later ones", async () => {
      const a = await node();
      const b = await node({}, lossy(makeBus()));
      const lossyBus = b.bus as ReturnType<typeof lossy>;
      const raw = await stream(b.url);
      const session = raw.session();
      await rawListen(b.url, { session, notifier: "chat", key: "k" });
      await a.n.notify("k", "m1");
      const epoch = epochOf(JSON.parse((await raw.event(1)).data).pos);
      lossyBus.drop = true;
      await a.n.notify("k", "m2");
      await a.n.notify("k", "m3");
      await until(() => lossyBus.dropped === 2, 3_000, "two dropped");
      lossyBus.drop = false;
      await a.n.notify("k", "m4");
      await raw.event(4);
      expect(after0(raw)).to.equal(
        event(session, 1, "k", "m1", `${epoch}-1`) +
          event(session, 2, "k", "m2", `${epoch}-2`) +
          event(session, 3, "k", "m3", `${epoch}-3`) +
          event(session, 4, "k", "m4", `${epoch}-4`),
      );
      expect(b.hub.stats().dropped).to.equal(0);
    });

    it("tells gap naming exactly the keys whose missed notifications the history no longer has", async () => {
      const a = await node({ history: { size: 2 } });
      const b = await node({ history: { size: 2 } }, lossy(makeBus()));
      const lossyBus = b.bus as ReturnType<typeof lossy>;
      const raw = await stream(b.url);
      const session = raw.session();
      await rawListen(b.url, {
        session,
        items: [
          { notifier: "chat", key: "trimmed" },
          { notifier: "chat", key: "kept" },
        ],
      });
      lossyBus.drop = true;
      for (const text of ["t1", "t2", "t3"]) await a.n.notify("trimmed", text);
      await a.n.notify("kept", "k1");
      await until(() => lossyBus.dropped === 4, 3_000, "four dropped");
      lossyBus.drop = false;
      await a.n.notify("trimmed", "t4");
      await a.n.notify("kept", "k2");
      await until(() => raw.events.length === 6, 3_000, "gap, t3, t4, k1, k2");
      const epoch = (key: string) => {
        const found = raw.events.find((e) => e.event === "chat" && JSON.parse(e.data).key === key);
        return epochOf(JSON.parse(found?.data ?? "{}").pos);
      };
      const [trimmed, kept] = [epoch("trimmed"), epoch("kept")];
      const trimmedFrom = (seq: number) =>
        `id: ${session}:${seq}\nevent: session\ndata: {"session":"${session}","status":"gap","lost":[{"notifier":"chat","key":"trimmed"}]}\n\n` +
        event(session, seq + 1, "trimmed", "t3", `${trimmed}-3`) +
        event(session, seq + 2, "trimmed", "t4", `${trimmed}-4`);
      const keptFrom = (seq: number) =>
        event(session, seq, "kept", "k1", `${kept}-1`) +
        event(session, seq + 1, "kept", "k2", `${kept}-2`);
      // each key in its order (the guarantee); the two keys' fills may end in either order
      // where their histories live on different Redis Cluster shards
      expect([trimmedFrom(1) + keptFrom(4), keptFrom(1) + trimmedFrom(3)]).to.include(after0(raw));
    });

    it("a forwarded since listen answered 503 (history unreadable on the session's node) applies nothing: tried again, it replays", async () => {
      const a = await node({}, lossy(makeBus()));
      const b = await node();
      const lossyA = a.bus as ReturnType<typeof lossy>;
      const raw = await stream(a.url);
      const session = raw.session();
      await rawListen(b.url, { session, notifier: "chat", key: "other" }); // kept throughout
      await b.n.notify("k", "m1");
      const probe = await stream(b.url);
      const first = { notifier: "chat", key: "k", since: null };
      const listened = await rawListen(b.url, { session: probe.session(), items: [first] });
      const pos = JSON.parse(listened.text).items[0].pos as string;
      await b.n.notify("k", "m2");
      const body = { session, items: [{ notifier: "chat", key: "k", since: pos }] };
      lossyA.failReads = true;
      expect((await rawListen(b.url, body)).status).to.equal(503); // forwarded from b to a
      expect(a.hub.stats().listens).to.equal(1); // "other" only
      lossyA.failReads = false;
      const again = await rawListen(b.url, body);
      expect(again.text).to.equal(`{"items":[{"pos":"${epochOf(pos)}-2","recovered":true}]}`);
      await b.n.notify("k", "m3");
      await raw.event(2);
      expect(after0(raw)).to.equal(
        event(session, 1, "k", "m2", `${epochOf(pos)}-2`) +
          event(session, 2, "k", "m3", `${epochOf(pos)}-3`),
      );
    });

    it("tells gap when the history cannot be read to fill a hole, then goes on", async () => {
      const a = await node();
      const b = await node({}, lossy(makeBus()));
      const lossyBus = b.bus as ReturnType<typeof lossy>;
      const raw = await stream(b.url);
      const session = raw.session();
      await rawListen(b.url, { session, notifier: "chat", key: "k" });
      await a.n.notify("k", "m1");
      const epoch = epochOf(JSON.parse((await raw.event(1)).data).pos);
      lossyBus.drop = true;
      await a.n.notify("k", "m2");
      await until(() => lossyBus.dropped === 1, 3_000, "m2 dropped");
      lossyBus.drop = false;
      lossyBus.failReads = true;
      await a.n.notify("k", "m3");
      await raw.event(3, 5_000); // after a few tries (about 1.5 s)
      lossyBus.failReads = false;
      await a.n.notify("k", "m4");
      await raw.event(4);
      expect(after0(raw)).to.equal(
        event(session, 1, "k", "m1", `${epoch}-1`) +
          `id: ${session}:2\nevent: session\ndata: {"session":"${session}","status":"gap","lost":[{"notifier":"chat","key":"k"}]}\n\n` +
          event(session, 3, "k", "m3", `${epoch}-3`) +
          event(session, 4, "k", "m4", `${epoch}-4`),
      );
    });

    it("tells gap on the next resume to a session whose stream was closed when it happened", async () => {
      const a = await node({ history: { size: 1 } });
      const b = await node({ history: { size: 1 } }, lossy(makeBus()));
      const lossyBus = b.bus as ReturnType<typeof lossy>;
      const raw = await stream(b.url);
      const session = raw.session();
      await rawListen(b.url, { session, notifier: "chat", key: "k" });
      const watcher = await stream(b.url); // tells when b has dealt with the hole
      await rawListen(b.url, { session: watcher.session(), notifier: "chat", key: "k" });
      raw.close();
      lossyBus.drop = true;
      for (const text of ["x1", "x2"]) await a.n.notify("k", text);
      await until(() => lossyBus.dropped === 2, 3_000, "two dropped");
      lossyBus.drop = false;
      await a.n.notify("k", "x3");
      await watcher.event(2);
      expect(watcher.events[1]?.event).to.equal("session");
      const again = await stream(b.url, { "last-event-id": `${session}:0` });
      await again.event(2);
      expect(again.status_()).to.equal("resumed");
      const epoch = epochOf(JSON.parse(again.events[2]?.data ?? "{}").pos);
      expect(after0(again)).to.equal(
        `id: ${session}:1\nevent: session\ndata: {"session":"${session}","status":"gap","lost":[{"notifier":"chat","key":"k"}]}\n\n` +
          event(session, 2, "k", "x3", `${epoch}-3`),
      );
    });
  });
}
