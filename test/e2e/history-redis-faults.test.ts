/**
 * Redis faults against the history (SPEC §5.8, issue 10): a node whose Redis
 * connection is cut while another notifies fills the hole from the history
 * (or tells `gap` when it was trimmed); a Redis restarted without its data
 * gives new epochs, so old positions recover nothing and every listener is
 * told `gap`, never a silent hole.
 */
import { expect } from "chai";
import { redisBus } from "../../server/redis.js";
import { freePort, RedisProcess, requireRedis } from "../bus/helpers.js";
import { TcpProxy } from "../fixtures/proxy.js";
import { closeAll, startServer, until } from "../helpers.js";
import { after0, chat, epochOf, event, rawListen, stream } from "./history.js";

function gapEvent(session: string, seq: number, key: string): string {
  return `id: ${session}:${seq}\nevent: session\ndata: {"session":"${session}","status":"gap","lost":[{"notifier":"chat","key":${JSON.stringify(key)}}]}\n\n`;
}

describe("history when Redis fails", function () {
  this.timeout(30_000);
  before(requireRedis);
  let redis: RedisProcess | undefined;
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await closeAll();
    await proxy?.close();
    proxy = undefined;
    await redis?.kill();
    redis = undefined;
  });

  /** Node A on Redis directly, node B through a proxy the test can cut; B's client listens on k. */
  async function blipNodes(size: number) {
    redis = new RedisProcess(await freePort());
    await redis.start();
    proxy = await TcpProxy.start(redis.port);
    const history = { size };
    const prefix = "blip:";
    const a = await startServer({ bus: redisBus({ url: redis.url, prefix }), history });
    const viaProxy = `redis://127.0.0.1:${proxy.port}`;
    const b = await startServer({ bus: redisBus({ url: viaProxy, prefix }), history });
    const na = a.hub.notifier(chat);
    b.hub.notifier(chat);
    const raw = await stream(b.url);
    await rawListen(b.url, { session: raw.session(), notifier: "chat", key: "k" });
    await na.notify("k", "m1");
    const epoch = epochOf(JSON.parse((await raw.event(1)).data).pos);
    return { a, b, na, raw, session: raw.session(), epoch };
  }

  /** Cuts B's Redis for 500 ms while A notifies `values`, then lets B back. */
  async function blip(nodes: Awaited<ReturnType<typeof blipNodes>>, values: string[]) {
    proxy?.down();
    await until(() => nodes.b.hub.stats().bus === "degraded", 5_000, "B degraded");
    for (const value of values) await nodes.na.notify("k", value); // A's notifies succeed
    await new Promise((resolve) => setTimeout(resolve, 500)); // the outage itself
    proxy?.up();
    await until(() => nodes.b.hub.stats().bus === "ok", 10_000, "B back on Redis");
  }

  it("fills from the history what a node missed while its Redis connection was cut", async () => {
    const nodes = await blipNodes(100);
    const { raw, session, epoch } = nodes;
    await blip(nodes, ["m2", "m3"]);
    await raw.event(3, 5_000);
    await nodes.na.notify("k", "m4");
    await raw.event(4);
    expect(after0(raw)).to.equal(
      event(session, 1, "k", "m1", `${epoch}-1`) +
        event(session, 2, "k", "m2", `${epoch}-2`) +
        event(session, 3, "k", "m3", `${epoch}-3`) +
        event(session, 4, "k", "m4", `${epoch}-4`),
    );
  });

  it("tells no gap after an outage in which nothing was notified (the history's top did not move)", async () => {
    const nodes = await blipNodes(100);
    const { raw, session, epoch } = nodes;
    await rawListen(nodes.b.url, { session, notifier: "chat", key: "never" }); // top 0
    await blip(nodes, []);
    await nodes.na.notify("k", "m2");
    await nodes.na.notify("never", "n1");
    await raw.event(3, 5_000);
    expect(after0(raw)).to.equal(
      event(session, 1, "k", "m1", `${epoch}-1`) +
        event(session, 2, "k", "m2", `${epoch}-2`) +
        event(
          session,
          3,
          "never",
          "n1",
          `${epochOf(JSON.parse((raw.events[3] as { data: string }).data).pos)}-1`,
        ),
    );
  });

  it("tells no gap after an outage of every node's Redis in which nothing was notified", async () => {
    redis = new RedisProcess(await freePort());
    await redis.start();
    proxy = await TcpProxy.start(redis.port);
    const url = `redis://127.0.0.1:${proxy.port}`;
    const a = await startServer({ bus: redisBus({ url, prefix: "all:" }) });
    const b = await startServer({ bus: redisBus({ url, prefix: "all:" }) });
    const na = a.hub.notifier(chat);
    b.hub.notifier(chat);
    const raws = [await stream(a.url), await stream(b.url)];
    for (const [i, raw] of raws.entries()) {
      const server = i === 0 ? a : b;
      await rawListen(server.url, { session: raw.session(), notifier: "chat", key: "k" });
      await rawListen(server.url, { session: raw.session(), notifier: "chat", key: "never" });
    }
    await na.notify("k", "m1");
    await Promise.all(raws.map((raw) => raw.event(1)));
    proxy.down();
    await until(
      () => a.hub.stats().bus === "degraded" && b.hub.stats().bus === "degraded",
      5_000,
      "degraded",
    );
    await new Promise((resolve) => setTimeout(resolve, 500)); // the outage itself
    proxy.up();
    await until(() => a.hub.stats().bus === "ok" && b.hub.stats().bus === "ok", 10_000, "back");
    await na.notify("k", "m2");
    await na.notify("k", "m3");
    await Promise.all(raws.map((raw) => raw.event(3, 5_000)));
    for (const raw of raws)
      expect(raw.events.slice(1).map((e) => e.event)).to.deep.equal(["chat", "chat", "chat"]);
  });

  it("tells gap when the history no longer has what the cut connection missed", async () => {
    const nodes = await blipNodes(1);
    const { raw, session, epoch } = nodes;
    await blip(nodes, ["m2", "m3", "m4"]);
    await raw.event(3, 5_000);
    await nodes.na.notify("k", "m5");
    await raw.event(4);
    expect(after0(raw)).to.equal(
      event(session, 1, "k", "m1", `${epoch}-1`) +
        gapEvent(session, 2, "k") +
        event(session, 3, "k", "m4", `${epoch}-4`) +
        event(session, 4, "k", "m5", `${epoch}-5`),
    );
  });

  it("after a restart without data: new epoch, old positions recover nothing, listeners are told gap", async () => {
    redis = new RedisProcess(await freePort());
    await redis.start();
    const bus = () => redisBus({ url: redis?.url, prefix: "restart:" });
    const a = await startServer({ bus: bus() });
    const b = await startServer({ bus: bus() });
    const na = a.hub.notifier(chat);
    b.hub.notifier(chat);
    const onB = await stream(b.url);
    const session = onB.session();
    await rawListen(b.url, { session, notifier: "chat", key: "k" });
    await na.notify("k", "before");
    const old = JSON.parse((await onB.event(1)).data).pos as string;
    await redis.kill();
    await until(() => b.hub.stats().bus === "degraded", 5_000, "degraded");
    await redis.start(); // empty: every history and epoch is gone
    await until(() => a.hub.stats().bus === "ok" && b.hub.stats().bus === "ok", 10_000, "ok");
    await onB.event(2, 5_000); // B checked k's history on reconnection: the epoch changed
    const fresh = await stream(a.url);
    const answer = await rawListen(a.url, {
      session: fresh.session(),
      items: [{ notifier: "chat", key: "k", since: old }],
    });
    const item = JSON.parse(answer.text).items[0] as { pos: string; recovered: boolean };
    expect(item.recovered).to.equal(false);
    const epoch = epochOf(item.pos);
    expect(epoch).to.not.equal(epochOf(old));
    await na.notify("k", "after");
    await onB.event(3);
    expect(after0(onB)).to.equal(
      event(session, 1, "k", "before", old) +
        gapEvent(session, 2, "k") +
        event(session, 3, "k", "after", `${epoch}-1`),
    );
    await fresh.event(1);
    expect(fresh.events).to.have.length(2); // nothing older than its listen
  });
});
