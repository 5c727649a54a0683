/**
 * Recovery by position tried as a demanding user would (a hostile review of
 * history, sequencer and broadcast): a batch naming a key twice, a `since` listen
 * that failed and is tried again, a bus message whose position no history
 * can place. Real servers, real Redis; a fault only where it cannot be real.
 */
import { expect } from "chai";
import type { Bus } from "../../server/bus.js";
import { redisBus } from "../../server/redis.js";
import { redisNames } from "../../server/redis-history.js";
import { requireRedis } from "../bus/helpers.js";
import { closeAll, startServer, until } from "../helpers.js";
import { chat, rawListen, stream } from "./history.js";

/** A bus whose next history reads fail (a Redis timeout, as `bounded` gives it). */
function flakyReads(bus: Bus): Bus & { failReads: number; reads: number } {
  const wrapped = {
    failReads: 0,
    reads: 0,
    kind: bus.kind,
    start: (context: Parameters<Bus["start"]>[0]) => bus.start(context),
    status: () => bus.status(),
    publish: (channel: string, message: string) => bus.publish(channel, message),
    subscribe: (channel: string, onMessage: (message: string) => void) =>
      bus.subscribe(channel, onMessage),
    close: () => bus.close(),
    append: bus.append?.bind(bus),
    async read(channel: string, after?: Parameters<NonNullable<Bus["read"]>>[1]) {
      wrapped.reads += 1;
      if (wrapped.failReads > 0) {
        wrapped.failReads -= 1;
        throw new Error("Redis did not answer the history read in time (injected)");
      }
      return (bus.read as NonNullable<Bus["read"]>)(channel, after);
    },
  };
  return wrapped;
}

const data = (raw: { events: { event?: string; data: string }[] }) =>
  raw.events.slice(1).map((e) => (e.event === "chat" ? JSON.parse(e.data).data : e.data));

/**
 * A stream listening on chat key "a", then `values` notified there and
 * received: the stream, its session, and the first value's position.
 */
async function listeningAfter(
  url: string,
  n: { notify(key: string, value: string): Promise<void> },
  values: string[],
) {
  const raw = await stream(url);
  const session = raw.session();
  await rawListen(url, { session, notifier: "chat", key: "a" });
  for (const value of values) await n.notify("a", value);
  await until(() => data(raw).length === values.length, 3_000, `${values.at(-1)}`);
  const pos = JSON.parse((await raw.event(1)).data).pos as string;
  return { raw, session, pos };
}

describe("recovery by position, reviewed", function () {
  this.timeout(20_000);
  afterEach(closeAll);

  it("replays once when one batch names the same key twice with since", async () => {
    const { url, hub } = await startServer({});
    const n = hub.notifier(chat);
    const first = await stream(url);
    await rawListen(url, { session: first.session(), notifier: "chat", key: "a" });
    await n.notify("a", "m1");
    const pos = JSON.parse((await first.event(1)).data).pos as string;
    await n.notify("a", "m2");
    await n.notify("a", "m3");
    const second = await stream(url);
    const item = { notifier: "chat", key: "a", since: pos };
    const answer = await rawListen(url, { session: second.session(), items: [item, item] });
    expect(answer.status).to.equal(200);
    await n.notify("a", "m4");
    await until(() => data(second).includes("m4"), 3_000, "m4");
    expect(data(second)).to.deep.equal(["m2", "m3", "m4"]);
  });

  it("a since listen with replay on a key the session listens to replays after since to it", async () => {
    const { url, hub } = await startServer({});
    const n = hub.notifier(chat);
    const { raw, session, pos } = await listeningAfter(url, n, ["m1", "m2", "m3"]);
    const item = { notifier: "chat", key: "a", since: pos };
    const twice = await rawListen(url, { session, items: [item] });
    expect(JSON.parse(twice.text).items[0].recovered).to.equal(true);
    const replayed = await rawListen(url, { session, items: [{ ...item, replay: true }] });
    expect(JSON.parse(replayed.text).items).to.deep.equal([
      { pos: JSON.parse((await raw.event(3)).data).pos, recovered: true },
    ]);
    await n.notify("a", "m4");
    await until(() => data(raw).includes("m4"), 3_000, "m4");
    expect(data(raw)).to.deep.equal(["m1", "m2", "m3", "m2", "m3", "m4"], "without replay: none");
    const bad = await rawListen(url, { session, items: [{ ...item, replay: 1 }] });
    expect(bad.status).to.equal(400);
    // A replay item listens to nothing by itself (an unlisten that overtook it wins).
    const other = { notifier: "chat", key: "b", since: pos, replay: true };
    const none = await rawListen(url, { session, items: [other] });
    expect(JSON.parse(none.text).items[0].recovered).to.equal(false);
    expect(hub.stats().listens).to.equal(1);
  });

  it("refuses a replay without a position, and a batch naming a key with replay twice: 400, nothing applied", async () => {
    let prepares = 0;
    const { url, hub } = await startServer({});
    const n = hub.notifier(chat, {
      prepare: (_identity, value: string) => {
        prepares += 1;
        return value;
      },
    });
    const { raw, session, pos } = await listeningAfter(url, n, ["m1", "m2"]);
    prepares = 0;
    for (const item of [
      { notifier: "chat", key: "b", replay: true },
      { notifier: "chat", key: "b", since: null, replay: true },
    ]) {
      const refused = await rawListen(url, { session, items: [item] });
      expect(refused.status).to.equal(400);
      expect(JSON.parse(refused.text).error.message).to.match(/replay needs "since"/);
    }
    const item = { notifier: "chat", key: "a", since: pos, replay: true };
    const twice = await rawListen(url, { session, items: Array(50).fill(item) });
    expect(twice.status).to.equal(400);
    expect(JSON.parse(twice.text).error.message).to.match(/replay at most once/);
    expect(hub.stats().listens).to.equal(1);
    await n.notify("a", "m3");
    await until(() => data(raw).includes("m3"), 3_000, "m3");
    expect(prepares, "prepare for m3 only: nothing replayed").to.equal(1);
    expect(data(raw)).to.deep.equal(["m1", "m2", "m3"]);
  });

  describe("on Redis", () => {
    before(requireRedis);
    let prefix = "";
    beforeEach(() => {
      prefix = `review:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`;
    });

    it("a since listen answered 503 (history unreadable) applies nothing: tried again, it replays", async () => {
      const bus = flakyReads(redisBus({ prefix }));
      const { url, hub } = await startServer({ bus });
      const n = hub.notifier(chat);
      const first = await stream(url);
      await rawListen(url, { session: first.session(), notifier: "chat", key: "a" });
      await n.notify("a", "m1");
      const pos = JSON.parse((await first.event(1)).data).pos as string;
      first.close();
      await n.notify("a", "m2");
      await n.notify("a", "m3");
      const second = await stream(url);
      const body = {
        session: second.session(),
        items: [{ notifier: "chat", key: "a", since: pos }],
      };
      bus.failReads = 1;
      expect((await rawListen(url, body)).status).to.equal(503);
      expect(hub.stats().listens).to.equal(1); // the first session's only
      const again = await rawListen(url, body);
      expect(again.status).to.equal(200);
      const recovered = JSON.parse(again.text).items[0].recovered as boolean;
      await n.notify("a", "m4");
      await until(() => data(second).includes("m4"), 3_000, "m4");
      if (recovered) expect(data(second)).to.deep.equal(["m2", "m3", "m4"]);
      else expect(recovered, "recovered:false although the history holds m2, m3").to.equal(true);
    });

    it("drops a bus notification that no history can place, tells gap, and goes on with the key", async () => {
      const errors: Error[] = [];
      const a = await startServer({ bus: redisBus({ prefix }) });
      const bus = flakyReads(redisBus({ prefix }));
      const b = await startServer({ bus, onError: (e) => errors.push(e) });
      const na = a.hub.notifier(chat);
      b.hub.notifier(chat);
      const raw = await stream(b.url);
      const session = raw.session();
      await rawListen(b.url, { session, notifier: "chat", key: "k" });
      await na.notify("k", "m1");
      const pos = JSON.parse((await raw.event(1)).data).pos as string;
      const { createClient } = await import("redis");
      const intruder = createClient();
      await intruder.connect();
      const channel = redisNames(prefix, 't:chat:"k"').channel;
      for (const bad of ["zzzzzz-7", `${pos}9`]) {
        const message = { type: "notify", node: "x", id: 1, notifier: "chat", key: "k" };
        await intruder.publish(
          channel,
          JSON.stringify({ pos: bad, ...message, value: "v", notfor: {} }),
        );
      }
      await intruder.quit();
      await na.notify("k", "m2");
      await until(() => data(raw).includes("m2"), 5_000, "m2 on b");
      const reads = bus.reads;
      await na.notify("k", "m3");
      await until(() => data(raw).includes("m3"), 5_000, "m3 on b");
      expect(bus.reads - reads, "history reads for one live notify").to.be.at.most(1);
      const gap = `{"session":"${session}","status":"gap","lost":[{"notifier":"chat","key":"k"}]}`;
      expect(data(raw).filter((d) => d !== gap)).to.deep.equal(["m1", "m2", "m3"]);
      expect(data(raw).indexOf(gap), "a gap before m2").to.equal(1);
      expect(errors.map((e) => e.message)).to.include(
        "a notification at zzzzzz-7 no history holds",
      );
    });
  });
});
