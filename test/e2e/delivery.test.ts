import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import type { Hub } from "../../server/index.js";
import {
  closeAll,
  listen,
  notifications,
  openRaw,
  openSession,
  post,
  startServer,
  until,
} from "../helpers.js";

const chat = defineNotifier<string, string>("chat");

/** A notifier whose prepare records the identities it is called for. */
function recordingPrepare(hub: Hub<string | null>) {
  const calls: unknown[] = [];
  const n = hub.notifier(chat, {
    prepare: (identity: string | null, value: string) => {
      calls.push(identity);
      return value;
    },
  });
  return { n, calls };
}

describe("delivery", () => {
  afterEach(closeAll);

  it("delivers each notify after a 204 listen exactly once, in notify order", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const raw = await openSession(url);
    await listen(url, raw.session(), "chat", "a");
    await listen(url, raw.session(), "chat", "a"); // twice is once
    for (let i = 0; i < 200; i += 1) await n.notify("a", `m${i}`);
    await raw.event(200);
    await n.notify("b", "elsewhere");
    await n.notify("a", "last");
    await raw.event(201);
    expect(notifications(raw).map((e) => e.data)).to.deep.equal([
      ...Array.from({ length: 200 }, (_, i) => `m${i}`),
      "last",
    ]);
  });

  it("stops sending on a key once /unlisten answered", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const raw = await openSession(url);
    await listen(url, raw.session(), "chat", "a");
    await n.notify("a", "before");
    const res = await post(`${url}/unlisten`, {
      session: raw.session(),
      notifier: "chat",
      key: "a",
    });
    expect(res.status).to.equal(204);
    await n.notify("a", "after");
    await listen(url, raw.session(), "chat", "z");
    await n.notify("z", "marker");
    await raw.event(2);
    expect(notifications(raw).map((e) => e.data)).to.deep.equal(["before", "marker"]);
    expect(n.listeners("a")).to.equal(0);
  });

  it("loses nothing across stream reconnects within retention", async () => {
    const { url, hub } = await startServer({ retention: 1_000 });
    const n = hub.notifier(chat);
    let raw = await openSession(url);
    const session = raw.session();
    await listen(url, session, "chat", "a");
    const received: string[] = [];
    let sent = 0;
    for (let round = 0; round < 5; round += 1) {
      for (let i = 0; i < 20; i += 1) await n.notify("a", `m${sent++}`);
      await until(() => raw.events.length > 5, 2_000, "some events");
      raw.close(); // drop mid-way: the client resumes from the last id it has
      const last = raw.events.at(-1)?.id as string;
      received.push(...notifications(raw).map((e) => e.data as string));
      for (let i = 0; i < 5; i += 1) await n.notify("a", `m${sent++}`);
      raw = await openRaw(`${url}/events`, { "last-event-id": last });
      await raw.event(0);
      expect(raw.status_()).to.equal("resumed");
      expect(raw.session()).to.equal(session);
    }
    await until(() => received.length + notifications(raw).length === sent, 3_000, "all events");
    received.push(...notifications(raw).map((e) => e.data as string));
    expect(received).to.deep.equal(Array.from({ length: sent }, (_, i) => `m${i}`));
  });

  describe("prepare", () => {
    it("is called once per notify and distinct identity; undefined blocks that identity", async () => {
      const calls: string[] = [];
      const { url, hub } = await startServer();
      const n = hub.notifier(chat, {
        prepare: (identity: string | null, value: string) => {
          calls.push(String(identity));
          return identity === "eve" ? undefined : `${value} for ${identity}`;
        },
      });
      const streams = await Promise.all(
        ["ann", "ann", "bob", "eve"].map((u) => openSession(url, u)),
      );
      for (const [i, raw] of streams.entries()) {
        await listen(url, raw.session(), "chat", "a", {
          "x-user": ["ann", "ann", "bob", "eve"][i],
        });
      }
      await n.notify("a", "hi");
      await until(
        () => streams.slice(0, 3).every((raw) => raw.events.length === 2),
        2_000,
        "deliveries",
      );
      expect(calls.sort()).to.deep.equal(["ann", "bob", "eve"]);
      expect(notifications(streams[0]!)[0]?.data).to.equal("hi for ann");
      expect(notifications(streams[1]!)[0]?.data).to.equal("hi for ann");
      expect(notifications(streams[2]!)[0]?.data).to.equal("hi for bob");
      const plain = hub.notifier(defineNotifier<string, string>("plain"));
      await listen(url, streams[3]!.session(), "plain", "m", { "x-user": "eve" });
      await plain.notify("m", "marker");
      await streams[3]!.event(1);
      expect(notifications(streams[3]!).map((e) => e.data)).to.deep.equal(["marker"]);
    });

    it("a throw blocks only that identity and goes to onError", async () => {
      const errors: { error: Error; context: object }[] = [];
      const { url, hub } = await startServer({
        onError: (error, context) => errors.push({ error, context }),
      });
      const n = hub.notifier(chat, {
        prepare: (identity: string | null, value: string) => {
          if (identity === "bad") throw new Error("boom");
          return value;
        },
      });
      const good = await openSession(url, "good");
      const bad = await openSession(url, "bad");
      await listen(url, good.session(), "chat", "a", { "x-user": "good" });
      await listen(url, bad.session(), "chat", "a", { "x-user": "bad" });
      await n.notify("a", "x");
      await good.event(1);
      expect(errors).to.have.length(1);
      expect(errors[0]?.error.message).to.equal("boom");
      expect(errors[0]?.context).to.include({ notifier: "chat", during: "prepare" });
      expect(bad.events).to.have.length(1);
    });

    it("keeps per-key order when prepare is async and resolves out of order", async () => {
      const { url, hub } = await startServer();
      const n = hub.notifier(chat, {
        prepare: async (identity: string | null, value: string) => {
          await new Promise((resolve) =>
            setTimeout(resolve, identity === "slow" ? 30 - Number(value) : 1),
          );
          return `${value}`;
        },
      });
      const slow = await openSession(url, "slow");
      const fast = await openSession(url, "fast");
      await listen(url, slow.session(), "chat", "a", { "x-user": "slow" });
      await listen(url, fast.session(), "chat", "a", { "x-user": "fast" });
      for (let i = 0; i < 10; i += 1) void n.notify("a", String(i));
      await slow.event(10);
      await fast.event(10);
      const expected = Array.from({ length: 10 }, (_, i) => String(i));
      expect(notifications(slow).map((e) => e.data)).to.deep.equal(expected);
      expect(notifications(fast).map((e) => e.data)).to.deep.equal(expected);
    });

    it("does not send a pending async notification to a session that unlistened meanwhile", async () => {
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const { url, hub } = await startServer();
      const n = hub.notifier(chat, {
        prepare: async (_identity: string | null, value: string) => {
          await gate;
          return value;
        },
      });
      const raw = await openSession(url);
      await listen(url, raw.session(), "chat", "a");
      await n.notify("a", "held");
      await post(`${url}/unlisten`, { session: raw.session(), notifier: "chat", key: "a" });
      release();
      const other = hub.notifier(defineNotifier<string, string>("other"));
      await listen(url, raw.session(), "other", "m");
      await other.notify("m", "marker");
      await raw.event(1);
      expect(notifications(raw).map((e) => e.data)).to.deep.equal(["marker"]);
    });
  });

  describe("notfor", () => {
    async function three() {
      const server = await startServer();
      const n = server.hub.notifier(chat);
      const users = ["ann", "ann", "bob"];
      const streams = await Promise.all(users.map((u) => openSession(server.url, u)));
      for (const [i, raw] of streams.entries()) {
        await listen(server.url, raw.session(), "chat", "a", { "x-user": users[i] as string });
      }
      return { ...server, n, streams };
    }
    const got = (raw: Awaited<ReturnType<typeof openSession>>) =>
      notifications(raw).map((e) => e.data);

    it("{ session } excludes that session only", async () => {
      const { n, streams } = await three();
      await n.notify("a", "x", { notfor: { session: streams[0]!.session() } });
      await n.notify("a", "y");
      await until(() => streams.every((raw) => raw.events.length >= 2));
      expect(streams.map(got)).to.deep.equal([["y"], ["x", "y"], ["x", "y"]]);
    });

    it("{ identity } excludes every session of that identity", async () => {
      const { n, streams } = await three();
      await n.notify("a", "x", { notfor: { identity: "ann" } });
      await n.notify("a", "y");
      await until(() => streams.every((raw) => raw.events.length >= 2));
      expect(streams.map(got)).to.deep.equal([["y"], ["y"], ["x", "y"]]);
    });

    it("an Express request excludes the session of its X-Notif-Session header", async () => {
      const server = await startServer({}, (app, hub) => {
        const n = hub.notifier(chat);
        app.post("/say", async (req, res) => {
          await n.notify("a", "x", { notfor: req });
          res.sendStatus(204);
        });
      });
      const me = await openSession(server.url);
      const you = await openSession(server.url);
      await listen(server.url, me.session(), "chat", "a");
      await listen(server.url, you.session(), "chat", "a");
      const res = await fetch(`${server.origin}/say`, {
        method: "POST",
        headers: { "X-Notif-Session": me.session() },
      });
      expect(res.status).to.equal(204);
      await you.event(1);
      expect(server.hub.sessionOf({ headers: { "x-notif-session": "s" } } as never)).to.equal("s");
      await fetch(`${server.origin}/say`, { method: "POST" }); // no header: nobody excluded
      await me.event(1);
      expect(notifications(me)).to.have.length(1);
    });

    it("works with prepare too, and skips the prepare call of an excluded identity", async () => {
      const { url, hub } = await startServer();
      const { n, calls } = recordingPrepare(hub);
      const ann = await openSession(url, "ann");
      const bob = await openSession(url, "bob");
      await listen(url, ann.session(), "chat", "a", { "x-user": "ann" });
      await listen(url, bob.session(), "chat", "a", { "x-user": "bob" });
      await n.notify("a", "x", { notfor: { identity: "ann" } });
      await bob.event(1);
      expect(calls).to.deep.equal(["bob"]);
    });
  });

  describe("server-side listens", () => {
    it("notifier.listen and unlisten act as the endpoints do; unlistenIdentity drops every session of an identity", async () => {
      const { url, hub } = await startServer();
      const n = hub.notifier(chat);
      const a1 = await openSession(url, "ann");
      const a2 = await openSession(url, "ann");
      const b = await openSession(url, "bob");
      for (const raw of [a1, a2, b]) await n.listen(raw.session(), "k");
      expect(n.listeners("k")).to.equal(3);
      await n.unlisten(a2.session(), "k");
      expect(n.listeners("k")).to.equal(2);
      await n.listen(a2.session(), "k");
      await n.unlistenIdentity("ann", "k");
      expect(n.listeners("k")).to.equal(1);
      await n.notify("k", "only bob");
      await b.event(1);
      expect(a1.events).to.have.length(1);
      try {
        await n.listen("no.such", "k");
        expect.fail("listen on an unknown session must reject");
      } catch (error) {
        expect((error as { code?: string }).code).to.equal("unknown_session");
      }
    });
  });

  it("costs a notify only its key's listeners", async () => {
    const { url, hub } = await startServer();
    const { n, calls } = recordingPrepare(hub);
    const streams = await Promise.all(
      Array.from({ length: 50 }, (_, i) => openSession(url, `u${i}`)),
    );
    await Promise.all(
      streams.map((raw, i) => listen(url, raw.session(), "chat", `k${i}`, { "x-user": `u${i}` })),
    );
    await n.notify("k7", "x");
    await streams[7]!.event(1);
    expect(calls).to.deep.equal(["u7"]);
    expect(hub.stats().sent).to.equal(1);
  });
});

describe("delivery: bounds on the app's hooks", () => {
  afterEach(closeAll);

  it("gives up on an async prepare that never settles, blocking only that identity, and goes on", async () => {
    const errors: Error[] = [];
    const { url, hub } = await startServer({
      prepareTimeout: 50,
      onError: (error) => errors.push(error),
    });
    const n = hub.notifier(chat, {
      prepare: (identity: string | null, value: string) =>
        identity === "stuck" ? new Promise<string>(() => {}) : value,
    });
    const stuck = await openSession(url, "stuck");
    const fine = await openSession(url, "fine");
    await listen(url, stuck.session(), "chat", "a", { "x-user": "stuck" });
    await listen(url, fine.session(), "chat", "a", { "x-user": "fine" });
    await n.notify("a", "one");
    await n.notify("a", "two");
    await fine.event(2, 2_000);
    expect(notifications(fine).map((e) => e.data)).to.deep.equal(["one", "two"]);
    expect(errors.map((e) => e.message)).to.deep.equal([
      "prepare did not settle within 50 ms",
      "prepare did not settle within 50 ms",
    ]);
    expect(stuck.events).to.have.length(1);
  });

  it("takes an identify that returns undefined as anonymous (null)", async () => {
    const { url, hub } = await startServer({ identify: () => undefined as unknown as null });
    hub.notifier(chat);
    const raw = await openSession(url);
    expect((await listen(url, raw.session(), "chat", "a")).status).to.equal(204);
  });
});

describe("delivery: unlisten against a listen still being authorized", () => {
  afterEach(closeAll);

  it("keeps an unlisten answered while an earlier listen waited on authorize", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let waiting = 0;
    const { url, hub } = await startServer();
    const n = hub.notifier(chat, {
      authorize: async () => {
        waiting += 1;
        await gate;
        return true;
      },
    });
    const raw = await openSession(url);
    const pending = listen(url, raw.session(), "chat", "a");
    await until(() => waiting === 1, 2_000, "the listen to wait on authorize");
    const unlisten = await post(`${url}/unlisten`, {
      session: raw.session(),
      notifier: "chat",
      key: "a",
    });
    expect(unlisten.status).to.equal(204);
    release();
    expect((await pending).status).to.equal(204);
    expect(n.listeners("a")).to.equal(0);
    await n.notify("a", "must not arrive");
    const later = listen(url, raw.session(), "chat", "b");
    release();
    await later;
    await n.notify("b", "marker");
    await raw.event(1);
    expect(notifications(raw).map((e) => e.data)).to.deep.equal(["marker"]);
  });
});
