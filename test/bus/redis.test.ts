import { expect } from "chai";
import { createClient } from "redis";
import type { Bus } from "../../server/bus.js";
import { redisBus } from "../../server/redis.js";
import { redisNames } from "../../server/redis-history.js";
import { busContract } from "./contract.js";
import {
  freePort,
  freshChannel,
  type Node,
  REDIS_URL,
  RedisProcess,
  requireRedis,
  startNode,
  until,
} from "./helpers.js";

const prefix = "sse-notif-test:";

describe("redis bus", () => {
  before(requireRedis);

  busContract("redis", () => redisBus({ url: REDIS_URL, prefix }));

  describe("on the shared Redis", () => {
    const nodes: Node[] = [];
    const start = async (bus = redisBus({ url: REDIS_URL, prefix })) => {
      const node = await startNode(bus);
      nodes.push(node);
      return node;
    };
    afterEach(async () => {
      await Promise.all(nodes.splice(0).map((node) => node.bus.close()));
    });

    it("prepends the prefix to every channel", async () => {
      const raw = createClient({ url: REDIS_URL });
      await raw.connect();
      try {
        const channel = freshChannel();
        const seen: string[] = [];
        const name = redisNames(prefix, channel).channel; // the prefix, then the channel as hash tag
        expect(name).to.equal(`${prefix}{${channel}}`);
        await raw.subscribe(name, (message) => seen.push(message));
        const node = await start();
        await node.bus.publish(channel, "prefixed");
        await until(() => seen.length === 1, 3_000, "the raw subscriber");
        expect(seen).to.deep.equal(["prefixed"]);
      } finally {
        await raw.close();
      }
    });

    it("uses the default prefix sse-notif:", async () => {
      const a = await start(redisBus({ url: REDIS_URL }));
      const raw = createClient({ url: REDIS_URL });
      await raw.connect();
      try {
        const channel = freshChannel();
        const seen: string[] = [];
        const name = redisNames("sse-notif:", channel).channel;
        expect(name.startsWith("sse-notif:{")).to.equal(true);
        await raw.subscribe(name, (message) => seen.push(message));
        await a.bus.publish(channel, "default");
        await until(() => seen.length === 1, 3_000, "the raw subscriber");
      } finally {
        await raw.close();
      }
    });

    it("duplicates a given client and never closes it", async () => {
      const client = createClient({ url: REDIS_URL });
      await client.connect();
      try {
        const a = await start(redisBus({ client, prefix }));
        const b = await start(redisBus({ client, prefix }));
        const channel = freshChannel();
        const seen: string[] = [];
        await a.bus.subscribe(channel, (message) => seen.push(message));
        await b.bus.publish(channel, "via duplicates");
        await until(() => seen.length === 1, 3_000, "the message");
        await Promise.all([a.bus.close(), b.bus.close()]);
        expect(client.isReady).to.equal(true);
        expect(await client.ping()).to.equal("PONG");
      } finally {
        await client.close();
      }
    });

    it("reports a throwing handler to onError and keeps delivering", async () => {
      const a = await start();
      const b = await start();
      const channel = freshChannel();
      const seen: string[] = [];
      await a.bus.subscribe(channel, (message) => {
        if (message === "boom") throw new Error("handler failed");
        seen.push(message);
      });
      await b.bus.publish(channel, "boom");
      await b.bus.publish(channel, "fine");
      await until(() => seen.length === 1, 3_000, "the next message");
      expect(a.errors.map((error) => error.message)).to.deep.equal(["handler failed"]);
    });
  });

  describe("a history gone backwards (a failover that lost acknowledged writes)", () => {
    const limits = { size: 100, ttl: 60_000, maxBytes: 1_048_576 };
    const nodes: Node[] = [];
    afterEach(async () => {
      await Promise.all(nodes.splice(0).map((node) => node.bus.close()));
    });
    const start = async (p: string) => {
      const node = await startNode(redisBus({ url: REDIS_URL, prefix: p }), "n", limits);
      nodes.push(node);
      return node.bus as Required<Bus>;
    };

    /** Makes the key's history look like a copy that never got its last `count` appends. */
    async function loseLast(p: string, channel: string, count: number): Promise<void> {
      const raw = createClient({ url: REDIS_URL });
      await raw.connect();
      try {
        const { stream, meta } = redisNames(p, channel);
        const top = Number(await raw.hGet(meta, "o"));
        const kept = await raw.xRange(stream, "-", `${top - count}-0`);
        await raw.del(stream); // a copy's stream: its own last id
        for (const { id, message } of kept ?? []) await raw.xAdd(stream, id, message);
        await raw.hSet(meta, "o", String(top - count));
      } finally {
        await raw.close();
      }
    }

    it("gives the key a new epoch when a node saw a position past the key's top", async () => {
      const p = `${prefix}${freshChannel("hw")}:`;
      const [a, b] = [await start(p), await start(p)];
      const channel = freshChannel();
      for (let n = 1; n <= 3; n += 1) await a.append(channel, `{"n":${n}}`);
      await loseLast(p, channel, 2);
      const first = await b.append(channel, '{"n":"b"}'); // b saw nothing: the old epoch goes on
      expect(first.offset).to.equal(2);
      const next = await a.append(channel, '{"n":"a"}'); // a saw 3, the top is 2: lost
      expect(next.epoch).to.not.equal(first.epoch);
      expect(next.offset).to.equal(1);
      expect((await b.read(channel)).epoch).to.equal(next.epoch);
    });

    it("gives the key a new epoch when the entry at a position a node saw is another one", async () => {
      const p = `${prefix}${freshChannel("hw")}:`;
      const [a, b] = [await start(p), await start(p)];
      const channel = freshChannel();
      for (let n = 1; n <= 3; n += 1) await a.append(channel, `{"n":${n}}`);
      await loseLast(p, channel, 2);
      await b.append(channel, '{"n":"x"}');
      const third = await b.append(channel, '{"n":"y"}'); // offset 3 again: not what a saw there
      expect(third.offset).to.equal(3);
      const read = await a.read(channel, { epoch: third.epoch, offset: 1 });
      expect(read.epoch).to.not.equal(third.epoch);
      expect(read).to.deep.include({ top: 0, entries: [] });
    });
  });

  describe("when its Redis goes away", function () {
    this.timeout(30_000);
    let server: RedisProcess;
    const nodes: Node[] = [];
    const start = async () => {
      const node = await startNode(redisBus({ url: server.url, prefix }));
      nodes.push(node);
      return node;
    };

    beforeEach(async () => {
      server = new RedisProcess(await freePort());
    });
    afterEach(async () => {
      await Promise.all(nodes.splice(0).map((node) => node.bus.close()));
      await server.kill();
    });

    /** Lets the bus fail several reconnection attempts (backoff 50, 100, 200 ms…). */
    const outage = () => new Promise((resolve) => setTimeout(resolve, 600));

    it("goes degraded, rejects publish promptly, reports once, then recovers and resubscribes", async () => {
      await server.start();
      const a = await start();
      const b = await start();
      const kept = freshChannel("kept");
      const seen: string[] = [];
      await a.bus.subscribe(kept, (message) => seen.push(message));
      expect(a.bus.status()).to.equal("ok");

      for (let round = 1; round <= 2; round++) {
        await server.kill();
        await until(() => a.bus.status() === "degraded", 2_000, "degraded");
        await until(() => b.bus.status() === "degraded", 2_000, "degraded");
        const began = Date.now();
        const error = await b.bus.publish(kept, "lost").then(
          () => expect.fail("publish should reject while Redis is down"),
          (thrown: Error) => thrown,
        );
        expect(Date.now() - began).to.be.below(2_000);
        expect(error.message).to.match(/Redis/);
        await outage();
        expect(a.errors, "one report per outage").to.have.length(round);
        expect(b.errors, "one report per outage").to.have.length(round);

        await server.start();
        await until(() => a.bus.status() === "ok" && b.bus.status() === "ok", 5_000, "ok again");
        const message = `after outage ${round}`;
        await until(
          async () => {
            await b.bus.publish(kept, message);
            return seen.includes(message);
          },
          5_000,
          "the resubscribed channel",
        );
      }
      expect(a.statuses).to.deep.equal(["ok", "degraded", "ok", "degraded", "ok"]);
      expect(a.errors).to.have.length(2);
    });

    it("records subscribe and unsubscribe made while down and applies them on reconnect", async () => {
      await server.start();
      const a = await start();
      const b = await start();
      const dropped = freshChannel("dropped");
      const added = freshChannel("added");
      const seen: string[] = [];
      const unsubscribe = await a.bus.subscribe(dropped, (message) => seen.push(message));
      await server.kill();
      await until(() => a.bus.status() === "degraded", 2_000, "degraded");
      const began = Date.now();
      await unsubscribe();
      await a.bus.subscribe(added, (message) => seen.push(message));
      expect(Date.now() - began, "subscribe while down resolves at once").to.be.below(500);
      await server.start();
      await until(() => a.bus.status() === "ok" && b.bus.status() === "ok", 5_000, "ok again");
      await until(
        async () => {
          await b.bus.publish(dropped, "to dropped");
          await b.bus.publish(added, "to added");
          return seen.includes("to added");
        },
        5_000,
        "the channel subscribed while down",
      );
      expect(seen).to.not.include("to dropped");
    });

    it("starts while Redis is down: resolves, degraded, then ok when Redis comes", async () => {
      const began = Date.now();
      const a = await start();
      expect(Date.now() - began, "start does not wait for Redis").to.be.below(2_000);
      expect(a.bus.status()).to.equal("degraded");
      expect(a.errors).to.have.length(1);
      const channel = freshChannel();
      const seen: string[] = [];
      await a.bus.subscribe(channel, (message) => seen.push(message));
      let rejected = false;
      await a.bus.publish(channel, "nobody").catch(() => {
        rejected = true;
      });
      expect(rejected, "publish while down rejects").to.equal(true);
      await outage();
      expect(a.errors, "no flood of errors while retrying").to.have.length(1);

      await server.start();
      await until(() => a.bus.status() === "ok", 5_000, "ok");
      await a.bus.publish(channel, "now");
      await until(() => seen.includes("now"), 3_000, "the message");
      expect(a.statuses).to.deep.equal(["ok"]);
    });

    it("closes while Redis is down without waiting for it", async () => {
      const a = await start();
      const began = Date.now();
      await a.bus.close();
      expect(Date.now() - began).to.be.below(1_000);
      await a.bus.publish("x", "y").then(
        () => expect.fail("publish after close should reject"),
        () => {},
      );
      await server.start();
      await outage();
      expect(a.bus.status()).to.equal("degraded");
    });
  });
});
