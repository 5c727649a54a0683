/**
 * Graceful shutdown for deploys (issue 10): `hub.close()` ends its streams
 * spread over `closeWindow`, serving the others meanwhile; the `retry:` it
 * sends is jittered per stream; the history and closeWindow options are
 * checked at once.
 */
import http from "node:http";
import { expect } from "chai";
import { type Bus, InProcessBroker, inProcessBus } from "../../server/bus.js";
import { createHub } from "../../server/index.js";
import { closeAll, listen, notifications, openRaw, startServer, until } from "../helpers.js";
import { chat, rawListen, stream } from "./history.js";

/**
 * A bus whose appends wait while `held` (a notify whose history write is on
 * its way); closing it waits for them, as a connection's QUIT waits for the
 * commands sent before it.
 */
function slowAppends(bus: Bus): Bus & { held: boolean; release(): void } {
  const waiting: (() => void)[] = [];
  const inflight = new Set<Promise<unknown>>();
  const append = bus.append?.bind(bus) as NonNullable<Bus["append"]>;
  const wrapped = Object.assign(Object.create(bus) as Bus, {
    held: false,
    release() {
      wrapped.held = false;
      for (const go of waiting.splice(0)) go();
    },
    append(channel: string, message: string) {
      const held = wrapped.held && new Promise<void>((resolve) => waiting.push(resolve));
      const done = (async () => {
        if (held) await held;
        return append(channel, message);
      })();
      inflight.add(done);
      void done.catch(() => {}).finally(() => inflight.delete(done));
      return done;
    },
    async close() {
      await Promise.allSettled([...inflight]);
      return bus.close();
    },
  });
  return wrapped;
}

describe("hub.close() over closeWindow", () => {
  afterEach(closeAll);

  it("ends the streams one by one over the window, still serving those left, then resolves", async () => {
    const broker = new InProcessBroker();
    const a = await startServer({ bus: inProcessBus(broker), closeWindow: 800 });
    const b = await startServer({ bus: inProcessBus(broker) });
    a.hub.notifier(chat);
    const nb = b.hub.notifier(chat);
    const raws = [];
    for (let i = 0; i < 4; i += 1) {
      const raw = await stream(a.url);
      await listen(a.url, raw.session(), "chat", "k");
      raws.push(raw);
    }
    const ended: number[] = [];
    const start = Date.now();
    for (const raw of raws) void raw.ended().then(() => ended.push(Date.now() - start));
    const closed = a.hub.close();
    await until(() => ended.length === 1, 3_000, "the first stream ended");
    expect((await openRaw(`${a.url}/events`)).status, "no new stream while closing").to.equal(503);
    await nb.notify("k", "during the window");
    await closed;
    await Promise.all(raws.map((raw) => raw.ended()));
    expect(ended).to.have.length(4);
    // 4 streams over 800 ms: one every 200 ms, the first at once (load can only stretch this)
    expect((ended[3] as number) - (ended[0] as number)).to.be.at.least(500);
    const got = raws.map((raw) => notifications(raw).map((n) => n.data));
    expect(got.filter((data) => data.includes("during the window")).length).to.equal(3);
    expect(a.hub.stats()).to.include({ sessions: 0, streams: 0 });
  });

  it("with closeWindow: 0 ends every stream at once", async () => {
    const { url, hub } = await startServer({ closeWindow: 0 });
    const raws = [await stream(url), await stream(url), await stream(url)];
    await hub.close();
    await Promise.all(raws.map((raw) => raw.ended()));
    expect(hub.stats()).to.include({ sessions: 0, streams: 0 });
  });

  it("while closing, closes each keep-alive connection it refuses on, so that the client's next request goes through the load balancer to another node", async () => {
    const { url, hub } = await startServer();
    hub.notifier(chat);
    const held = await stream(url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const body = JSON.stringify({ session: held.session(), notifier: "chat", key: "k" });
    const post = () =>
      new Promise<{ status: number; connection: unknown; reused: boolean }>((resolve, reject) => {
        const req = http.request(
          `${url}/listen`,
          { method: "POST", agent, headers: { "content-type": "application/json" } },
          (res) => {
            res.resume();
            res.on("end", () =>
              resolve({
                status: res.statusCode ?? 0,
                connection: res.headers.connection,
                reused: req.reusedSocket,
              }),
            );
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    try {
      expect(await post()).to.deep.equal({ status: 204, connection: "keep-alive", reused: false });
      const closed = hub.close();
      // pooled before the close: refused, and not kept for the next request
      expect(await post()).to.deep.equal({ status: 503, connection: "close", reused: true });
      expect(await post()).to.deep.include({ status: 503, reused: false });
      held.close();
      await closed;
    } finally {
      agent.destroy();
    }
  });

  it("does not deliver, as it closes, a notify whose history write is still on its way without its position: the next node replays it by position, once", async () => {
    const broker = new InProcessBroker();
    const busA = slowAppends(inProcessBus(broker));
    const a = await startServer({ bus: busA });
    const b = await startServer({ bus: inProcessBus(broker) });
    const na = a.hub.notifier(chat);
    b.hub.notifier(chat);
    const raw = await stream(a.url);
    await rawListen(a.url, { session: raw.session(), notifier: "chat", key: "k" });
    await na.notify("k", "m1");
    const pos = JSON.parse((await raw.event(1)).data).pos as string;
    busA.held = true;
    const notified = na.notify("k", "m2");
    const closed = a.hub.close();
    await raw.ended();
    busA.release();
    await notified;
    await closed;
    const chats = raw.events.filter((e) => e.event === "chat").map((e) => JSON.parse(e.data));
    expect(
      chats.filter((data) => data.pos === undefined),
      "no notification without pos",
    ).to.deep.equal([]);
    const onB = await stream(b.url);
    const body = { session: onB.session(), items: [{ notifier: "chat", key: "k", since: pos }] };
    expect(JSON.parse((await rawListen(b.url, body)).text).items[0].recovered).to.equal(true);
    await onB.event(1);
    const got = [...chats, ...notifications(onB)].map((data) => data.data);
    expect(got).to.deep.equal(["m1", "m2"]);
  });

  it("jitters the retry it sends per stream, around the option", async () => {
    const { url } = await startServer({ retry: 1_000 });
    const sent = new Set<number>();
    for (let i = 0; i < 12; i += 1) {
      const raw = await stream(url);
      const retry = Number(/^retry: (\d+)\n\n/.exec(raw.text)?.[1]);
      expect(retry).to.be.within(750, 1_250);
      sent.add(retry);
    }
    expect(sent.size, "12 streams, not all the same retry").to.be.greaterThan(1);
  });
});

describe("history and closeWindow options", () => {
  for (const [what, history] of [
    ["a size of 0", { size: 0 }],
    ["a fractional ttl", { ttl: 1.5 }],
    ["a string maxBytes", { maxBytes: "64" }],
    ["an unknown field", { sizes: 10 }],
    ["true", true],
    ["null", null],
    ["an array", []],
  ] as const) {
    it(`createHub throws a TypeError for history with ${what}`, () => {
      expect(() => createHub({ history: history as never })).to.throw(TypeError, /history/);
    });
  }

  for (const closeWindow of [-1, 0.5, Number.NaN]) {
    it(`createHub throws a TypeError for closeWindow ${closeWindow}`, () => {
      expect(() => createHub({ closeWindow })).to.throw(TypeError, /closeWindow/);
    });
  }

  it("accepts history: false and partial bounds", async () => {
    for (const history of [false, {}, { size: 5 }, { ttl: 10, maxBytes: 1_000 }] as const) {
      await createHub({ history }).close();
    }
  });
});
