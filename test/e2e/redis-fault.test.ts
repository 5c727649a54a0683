import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { redisBus } from "../../server/redis.js";
import { redisNames } from "../../server/redis-history.js";
import { freePort, RedisProcess, requireRedis } from "../bus/helpers.js";
import { closeAll, listen, notifications, openRaw, startServer, until } from "../helpers.js";

const chat = defineNotifier<string, string>("chat");

describe("hubs on Redis when Redis fails", function () {
  this.timeout(30_000);
  before(requireRedis);
  let redis: RedisProcess | undefined;
  afterEach(async () => {
    await closeAll();
    await redis?.kill();
  });

  async function twoNodes(url: string) {
    const errors: Error[] = [];
    const make = () =>
      startServer({
        bus: redisBus({ url, prefix: "fault:" }),
        onError: (error) => errors.push(error),
      });
    const [a, b] = [await make(), await make()];
    const na = a.hub.notifier(chat);
    const nb = b.hub.notifier(chat);
    const onA = await openRaw(`${a.url}/events`);
    const onB = await openRaw(`${b.url}/events`);
    await onA.event(0);
    await onB.event(0);
    await listen(a.url, onA.session(), "chat", "k");
    await listen(b.url, onB.session(), "chat", "k");
    return { a, b, na, nb, onA, onB, errors };
  }

  it("goes on delivering locally while Redis is down, says degraded, and delivers across nodes again once it is back", async () => {
    redis = new RedisProcess(await freePort());
    await redis.start();
    const { a, na, onA, onB, errors } = await twoNodes(redis.url);
    await na.notify("k", "before");
    await onB.event(1);
    await redis.kill();
    await until(() => a.hub.stats().bus === "degraded", 5_000, "degraded");
    let rejected: unknown;
    await na.notify("k", "during").catch((error) => {
      rejected = error;
    });
    expect((rejected as { code?: string }).code).to.equal("unavailable");
    await onA.event(2);
    expect(notifications(onA).map((e) => e.data)).to.deep.equal(["before", "during"]);
    expect(errors.length).to.be.greaterThan(0);
    await redis.start();
    await until(() => a.hub.stats().bus === "ok", 10_000, "ok again");
    await until(
      async () => {
        await na.notify("k", "after").catch(() => {});
        return notifications(onB).some((e) => e.data === "after");
      },
      10_000,
      "cross-node delivery to resume",
    );
    expect(notifications(onB).map((e) => e.data)).to.not.include("during");
  });

  it("starts with Redis down: serves locally, then joins the bus when Redis comes up", async () => {
    redis = new RedisProcess(await freePort());
    const { a, b, na, onA, onB } = await twoNodes(redis.url);
    expect(a.hub.stats().bus).to.equal("degraded");
    await na.notify("k", "local").catch(() => {});
    await onA.event(1);
    await redis.start();
    await until(() => a.hub.stats().bus === "ok" && b.hub.stats().bus === "ok", 10_000, "ok");
    await until(
      async () => {
        await na.notify("k", "joined").catch(() => {});
        return notifications(onB).some((e) => e.data === "joined");
      },
      10_000,
      "cross-node delivery",
    );
  });

  it("drops a malformed bus message, reports it, and keeps serving", async () => {
    const errors: Error[] = [];
    const { createClient } = await import("redis");
    const prefix = `malformed:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`;
    const server = await startServer({
      bus: redisBus({ prefix }),
      onError: (error) => errors.push(error),
    });
    const n = server.hub.notifier(chat);
    const raw = await openRaw(`${server.url}/events`);
    await raw.event(0);
    await listen(server.url, raw.session(), "chat", "k");
    const intruder = createClient();
    await intruder.connect();
    for (const junk of [
      "not json",
      "{}",
      '{"type":"notify","node":"x"}',
      '{"type":"boom","node":"x","notifier":"chat","key":1}',
    ]) {
      await intruder.publish(redisNames(prefix, 't:chat:"k"').channel, junk);
    }
    await intruder.quit();
    await until(() => errors.length === 4, 3_000, "four reports");
    await n.notify("k", "still fine");
    await raw.event(1);
  });
});
