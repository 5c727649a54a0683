/**
 * A key's history lost (Redis flushed, or restarted without persistence)
 * while a node still tracks the key in the old epoch, then that node's bus
 * cut while the key's new history overflows: a session that joined in the
 * new epoch lost notifications of it too and must be told `gap` (SPEC
 * §5.8), not only the sessions of the old epoch. Found by the position
 * model test (test/reliability/positions.test.ts) on Redis.
 */
import { expect } from "chai";
import { createClient } from "redis";
import { redisBus } from "../../server/redis.js";
import { REDIS_URL, requireRedis } from "../bus/helpers.js";
import { TcpProxy } from "../fixtures/proxy.js";
import { closeAll, openSession, startServer, until } from "../helpers.js";
import { chat, rawListen } from "./history.js";

describe("a key's history lost, then a node cut off while the new one overflows", function () {
  this.timeout(20_000);
  before(requireRedis);
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await closeAll();
    await proxy?.close();
  });

  it("tells gap to a session that joined in the new epoch as well", async () => {
    const prefix = `lost-outage:${Math.random().toString(36).slice(2, 10)}:`;
    proxy = await TcpProxy.start(Number(new URL(REDIS_URL).port || 6379));
    const history = { size: 1 };
    const a = await startServer({ bus: redisBus({ url: REDIS_URL, prefix }), history });
    const url = `redis://127.0.0.1:${proxy.port}`;
    const b = await startServer({ bus: redisBus({ url, prefix }), history });
    const na = a.hub.notifier(chat);
    b.hub.notifier(chat);
    const item = { notifier: "chat", key: "k", since: null };
    const x = await openSession(b.url);
    expect((await rawListen(b.url, { session: x.session(), items: [item] })).status).to.equal(200);
    const admin = createClient({ url: REDIS_URL });
    await admin.connect();
    for await (const names of admin.scanIterator({ MATCH: `*${prefix}*` }))
      if (names.length > 0) await admin.del(names);
    admin.destroy();
    const y = await openSession(b.url); // joins in the new epoch, at its start
    expect((await rawListen(b.url, { session: y.session(), items: [item] })).status).to.equal(200);
    proxy.down();
    await until(() => b.hub.stats().bus === "degraded", 5_000, "B cut off");
    for (const v of ["v1", "v2", "v3"]) await na.notify("k", v); // only v3 kept
    proxy.up();
    await until(() => b.hub.stats().bus === "ok", 10_000, "B back");
    for (const [name, raw] of [
      ["X", x],
      ["Y", y],
    ] as const) {
      const got = () => raw.events.slice(1).map((e) => JSON.parse(e.data));
      await until(() => got().some((d) => d.data === "v3"), 5_000, `v3 on ${name}`);
      const [gap, last] = got();
      expect(gap, `${name}: v1 and v2 lost, told`).to.include({ status: "gap" });
      expect(last.data).to.equal("v3");
    }
  });
});
