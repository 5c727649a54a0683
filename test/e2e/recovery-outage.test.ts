/**
 * Recovery by position around a partial Redis outage of one node (a hostile
 * review): a listen made while the node cannot read the history, and a
 * notify made while only its subscriber connection is down. A throwaway
 * redis-server; node B reaches it through a TCP proxy the test steers.
 */
import { expect } from "chai";
import { createClient } from "redis";
import { redisBus } from "../../server/redis.js";
import { freePort, RedisProcess, requireRedis } from "../bus/helpers.js";
import { TcpProxy } from "../fixtures/proxy.js";
import { closeAll, startServer, until } from "../helpers.js";
import { chat, rawListen, stream } from "./history.js";

type Raw = Awaited<ReturnType<typeof stream>>;
/** The notifications' data, and `gap` for a gap event. */
const got = (raw: Raw) =>
  raw.events
    .slice(1)
    .map((e) => (e.event === "chat" ? JSON.parse(e.data).data : JSON.parse(e.data).status));

describe("recovery by position when one node's Redis connection fails, reviewed", function () {
  this.timeout(30_000);
  before(requireRedis);
  let redis: RedisProcess | undefined;
  let proxy: TcpProxy | undefined;
  let admin: { destroy(): void } | undefined;
  afterEach(async () => {
    await closeAll();
    admin?.destroy();
    await proxy?.close();
    await redis?.kill();
  });

  async function nodes() {
    redis = new RedisProcess(await freePort());
    await redis.start();
    proxy = await TcpProxy.start(redis.port);
    const prefix = "outage:";
    const a = await startServer({ bus: redisBus({ url: redis.url, prefix }) });
    const client = createClient({ url: `redis://127.0.0.1:${proxy.port}`, name: "node-b" });
    const b = await startServer({ bus: redisBus({ client, prefix }) });
    const client2 = createClient({ url: redis.url });
    client2.on("error", () => {}); // the afterEach kills this Redis under it
    await client2.connect();
    admin = client2;
    return { a, b, na: a.hub.notifier(chat), nb: b.hub.notifier(chat), admin: client2 };
  }

  /** Notifies `k` from A until B's stream gets one of those notifies; returns the first value sent. */
  async function untilDelivered(na: { notify(k: string, v: string): Promise<void> }, raw: Raw) {
    let i = 0;
    await until(
      async () => {
        await na.notify("k", `y${i++}`).catch(() => {});
        return got(raw).some((d) => d.startsWith("y"));
      },
      10_000,
      "delivery on B again",
    );
  }

  it("a listen made while the node cannot read the history: what it missed meanwhile is told as gap", async () => {
    const { a, b, na } = await nodes();
    const raw = await stream(b.url);
    proxy?.down();
    await until(() => b.hub.stats().bus === "degraded", 5_000, "B degraded");
    const answer = await rawListen(b.url, { session: raw.session(), notifier: "chat", key: "k" });
    expect(answer.status).to.equal(204);
    await na.notify("k", "x"); // after the 204: B must deliver it or tell gap
    proxy?.up();
    await until(() => b.hub.stats().bus === "ok", 10_000, "B ok again");
    await untilDelivered(na, raw);
    const first = got(raw).findIndex((d) => d.startsWith("y"));
    expect(got(raw).slice(0, first), "x, or a gap, before the later ones").to.satisfy(
      (before: string[]) => before.includes("x") || before.includes("gap"),
    );
    expect(a.hub.stats().bus).to.equal("ok");
  });

  it("a notify made while only the node's subscriber connection is down arrives after what it missed, in position order", async () => {
    const { b, na, nb, admin } = await nodes();
    const raw = await stream(b.url);
    await rawListen(b.url, { session: raw.session(), notifier: "chat", key: "k" });
    await na.notify("k", "x0");
    await raw.event(1);
    proxy?.point(await freePort()); // B's connections cannot come back
    const list = (await admin.sendCommand(["CLIENT", "LIST"])) as string;
    const sub = list
      .split("\n")
      .find((line) => / name=node-b /.test(line) && / flags=P /.test(line));
    const id = /^id=(\d+) /.exec(sub ?? "")?.[1];
    expect(id, list).to.be.a("string");
    await admin.sendCommand(["CLIENT", "KILL", "ID", id as string]);
    await until(() => b.hub.stats().bus === "degraded", 5_000, "B degraded");
    await na.notify("k", "x1"); // B's subscriber misses it
    await nb.notify("k", "x2"); // appended after x1: its position says so
    proxy?.point(redis?.port as number);
    await until(() => got(raw).length >= 3, 10_000, "x1 and x2 on B");
    const pos = raw.events.slice(1).map((e) => JSON.parse(e.data).pos as string);
    expect(got(raw)).to.deep.equal(["x0", "x1", "x2"]);
    expect(pos.every((p) => typeof p === "string")).to.equal(true);
  });
});
