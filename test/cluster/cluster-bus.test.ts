/**
 * The bus on a real three-master Redis Cluster, started by this file: the bus
 * contract (history included), the multi-node hub suite and the history
 * suites as on one Redis, slots as Redis computes them, and each message on
 * its own shard only.
 */
import { expect } from "chai";
import { createCluster } from "redis";
import { defineNotifier } from "../../protocol/contract.js";
import { redisBus } from "../../server/redis.js";
import { slotOf, taggedName } from "../../server/slots.js";
import { busContract } from "../bus/contract.js";
import { freshChannel, type Node, startNode, until } from "../bus/helpers.js";
import { historySuite } from "../e2e/history.js";
import { historyNodesSuite } from "../e2e/history-nodes.js";
import { multiNodeSuite } from "../e2e/multinode.js";
import { closeAll, listen, notifications, openRaw, startServer } from "../helpers.js";
import { type ClusterNode, LocalCluster, requireCluster } from "./local-cluster.js";

const chat = defineNotifier<string, string>("chat");

describe("Redis Cluster bus (three masters)", function () {
  this.timeout(30_000);
  const cluster = new LocalCluster({ masters: 3 });
  before(requireCluster(cluster));
  after(() => cluster.stop());

  const prefix = () =>
    `sse-notif-test:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`;
  const bus = (p = prefix()) => redisBus({ cluster: { rootNodes: cluster.rootNodes }, prefix: p });

  busContract("redis cluster", () => bus("sse-notif-test:"));
  describe("hubs", () => {
    let shared = prefix();
    beforeEach(() => {
      shared = prefix(); // one per test, shared by the test's nodes
    });
    multiNodeSuite("Redis Cluster bus", () => bus(shared));
    historySuite("Redis Cluster bus", () => bus(shared));
    historyNodesSuite("Redis Cluster bus", () => bus(shared));
  });

  describe("slots", () => {
    it("computes the slot Redis computes, hash tags included", async () => {
      const names = [
        "foo",
        "",
        "{user1000}.following",
        "{}foo",
        "foo{}{bar}",
        "foo{{bar}}zap",
        "a{b}c{d}",
        "ünïcødé ✓",
        taggedName("p:", 't:chat:{"room":"a"}'),
        taggedName("p:", 't:chat:{"room":"a"}', ":h"),
        ...Array.from({ length: 50 }, () => freshChannel()),
      ];
      for (const name of names) expect(slotOf(name), name).to.equal(await cluster.slotOf(name));
    });

    it("puts every name made from one channel in the channel's slot, braces or not", () => {
      for (const channel of ['t:chat:"k"', 't:chat:{"a":{"b":1}}', "t:x:}{", "n:node1"]) {
        const slot = slotOf(taggedName("sse-notif:", channel));
        expect(slotOf(taggedName("sse-notif:", channel, ":history")), channel).to.equal(slot);
        expect(slotOf(taggedName("sse-notif:", channel, "}meta")), channel).to.equal(slot);
      }
    });

    it("refuses a channel that cannot be a hash tag, and a prefix with braces", () => {
      expect(() => taggedName("p:", "}x")).to.throw(TypeError, /hash tag/);
      expect(() =>
        redisBus({ cluster: { rootNodes: cluster.rootNodes }, prefix: "a{b}:" }),
      ).to.throw(TypeError, /prefix/);
      expect(() => redisBus({ cluster: { rootNodes: [] } })).to.throw(TypeError, /root node/);
    });
  });

  describe("credentials and refusals (ACL users on every node, the default user off)", () => {
    const acl = "sse-acl:";
    const user = (name: string, password: string, channels: string) => [
      "ACL",
      "SETUSER",
      name,
      "on",
      `>${password}`,
      "resetchannels",
      channels,
      "~*",
      "+@all",
    ];
    before(async () => {
      for (const node of cluster.nodes) {
        await node.cli(...user("sse-user", "s3cret", `&${acl}*`));
        await node.cli(...user("sse-narrow", "n4rrow", `&${acl}{n:*`)); // node channels only
        await node.cli("ACL", "SETUSER", "default", "off"); // a connection without them fails
      }
    });
    after(async () => {
      for (const node of cluster.nodes) {
        await node.cli("--user", "sse-user", "--pass", "s3cret", "ACL", "SETUSER", "default", "on");
        await node.cli("ACL", "DELUSER", "sse-user", "sse-narrow");
      }
    });
    const nodes: Node[] = [];
    afterEach(async () => {
      await Promise.all(nodes.splice(0).map((node) => node.bus.close()));
    });
    const as = async (user: string, password: string) => {
      const [first, ...rest] = cluster.rootNodes;
      const url = first!.url.replace("redis://", `redis://${user}:${password}@`);
      const node = await startNode(
        redisBus({ cluster: { rootNodes: [{ url }, ...rest] }, prefix: acl }),
      );
      nodes.push(node);
      return node;
    };

    it("takes user and password from the first root node's URL for every node's connections", async () => {
      const a = await as("sse-user", "s3cret");
      const b = await as("sse-user", "s3cret");
      const seen: string[] = [];
      const channels = Array.from({ length: 6 }, () => freshChannel()); // over several shards
      for (const channel of channels)
        await a.bus.subscribe(channel, (message) => seen.push(message));
      for (const channel of channels) await b.bus.publish(channel, channel);
      await until(() => seen.length === channels.length, 3_000, "every message");
      expect(new Set(seen)).to.deep.equal(new Set(channels));
      expect(a.bus.status()).to.equal("ok");
      expect([...a.errors, ...b.errors]).to.deep.equal([]);
    });

    it("rejects a subscribe Redis refuses (NOPERM), and a publish it refuses", async () => {
      const a = await as("sse-narrow", "n4rrow");
      await a.bus.subscribe("n:mine", () => {}); // allowed
      const error = await a.bus
        .subscribe('t:chat:"k"', () => {})
        .then(
          () => expect.fail("subscribe should reject"),
          (thrown: Error) => thrown,
        );
      expect(error.message).to.match(/refused to subscribe/);
      expect(String((error as Error & { cause?: unknown }).cause)).to.match(/NOPERM/);
      await a.bus.publish('t:chat:"k"', "x").then(
        () => expect.fail("publish should reject"),
        (thrown: Error) => expect(thrown.message).to.match(/SPUBLISH/),
      );
      expect(a.bus.status()).to.equal("ok");
    });

    it("refuses a root node that is not a redis:// URL", () => {
      expect(() => redisBus({ cluster: { rootNodes: [{ url: "http://x:1" }] } })).to.throw(
        TypeError,
        /redis:\/\//,
      );
    });
  });

  describe("sharded pub/sub", () => {
    const nodes: Node[] = [];
    afterEach(async () => {
      await Promise.all(nodes.splice(0).map((node) => node.bus.close()));
      await closeAll();
    });

    it("subscribes with SSUBSCRIBE on the channel's shard, named prefix{channel}", async () => {
      const p = prefix();
      const node = await startNode(bus(p));
      nodes.push(node);
      const channel = freshChannel();
      await node.bus.subscribe(channel, () => {});
      const name = `${p}{${channel}}`;
      const owner = await cluster.ownerOf(slotOf(name));
      for (const master of await cluster.masters()) {
        const count = await master.cli("PUBSUB", "SHARDNUMSUB", name);
        expect(count.split("\n")[1], `subscribers on ${master.port}`).to.equal(
          master === owner ? "1" : "0",
        );
        expect(await master.cli("PUBSUB", "NUMSUB", name)).to.match(/\n0$/); // not classic
      }
    });

    it("reports no channel as resubscribed when a master's first pub/sub connection comes up", async () => {
      const p = prefix();
      const node = await startNode(bus(p));
      nodes.push(node);
      const channels = Array.from({ length: 12 }, () => freshChannel()); // on every shard
      const owners = new Set(
        await Promise.all(
          channels.map(async (c) => (await cluster.ownerOf(slotOf(`${p}{${c}}`))).port),
        ),
      );
      expect(owners.size, "channels on every shard").to.equal(3);
      const seen: string[] = [];
      for (const channel of channels) await node.bus.subscribe(channel, (m) => seen.push(m));
      for (const channel of channels) await node.bus.publish(channel, channel);
      await until(() => seen.length === channels.length, 3_000, "every message");
      // the topology passes run 50 ms after each node-ready: give them ten times that, then
      // nothing may have been named (each report costs a history read per channel)
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(node.resubscribed).to.deep.equal([]);
    });

    it("duplicates a createCluster client given as `client` and never closes it", async () => {
      const client = createCluster({ rootNodes: cluster.rootNodes });
      client.on("error", () => {});
      await client.connect();
      try {
        const p = prefix();
        const a = await startNode(redisBus({ client, prefix: p }));
        const b = await startNode(redisBus({ client, prefix: p }));
        nodes.push(a, b);
        const channel = freshChannel();
        const seen: string[] = [];
        await a.bus.subscribe(channel, (message) => seen.push(message));
        await b.bus.publish(channel, "via duplicates");
        await until(() => seen.length === 1, 3_000, "the message");
        await Promise.all([a.bus.close(), b.bus.close()]);
        expect(client.isReady).to.equal(true);
        expect(await client.sPublish("x", "still open")).to.equal(0);
      } finally {
        await client.close();
      }
    });

    it("spreads keys over all three shards and sends each notify to its own shard only", async () => {
      const p = prefix();
      const a = await startServer({ bus: bus(p) });
      const b = await startServer({ bus: bus(p) });
      const na = a.hub.notifier(chat);
      b.hub.notifier(chat);
      const raw = await openRaw(`${b.url}/events`);
      await raw.event(0);
      const masters = await cluster.masters();
      const keys = ownKeysPerShard(p, masters.length, 4);
      const owners = await Promise.all(keys.map((key) => cluster.ownerOf(slotOf(nameOf(p, key)))));
      expect(new Set(owners.map((o) => o.port)).size, "keys on every shard").to.equal(3);
      for (const key of keys) await listen(b.url, raw.session(), "chat", key);
      const before = await Promise.all(masters.map(shardStats));
      for (const key of keys) await na.notify(key, `v:${key}`);
      await until(() => notifications(raw).length === keys.length, 5_000, "every notify");
      // One order per key (SPEC §5.8); keys on different shards reach B over different connections.
      const got = notifications(raw).map((e) => String(e.data));
      expect([...got].sort()).to.deep.equal(keys.map((key) => `v:${key}`).sort());
      const after = await Promise.all(masters.map(shardStats));
      masters.forEach((master, i) => {
        const mine = owners.filter((owner) => owner === master).length;
        const [was, is] = [before[i]!, after[i]!];
        expect(is.spublish - was.spublish, `SPUBLISH on ${master.port}`).to.equal(mine);
        expect(is.publishReceived - was.publishReceived, "classic publish broadcast").to.equal(0);
        expect(is.publish - was.publish, `PUBLISH on ${master.port}`).to.equal(0);
      });
    });
  });
});

/** The prefixed channel name of a chat key. */
function nameOf(prefix: string, key: string): string {
  return taggedName(prefix, `t:chat:${JSON.stringify(key)}`);
}

/** `perShard` keys on each of the default three slot ranges (0-5460, 5461-10922, 10923-16383). */
function ownKeysPerShard(prefix: string, shards: number, perShard: number): string[] {
  const keys: string[] = [];
  const counts = new Array(shards).fill(0);
  for (let i = 0; keys.length < shards * perShard; i += 1) {
    const key = `k${i}`;
    const shard = Math.min(shards - 1, Math.floor(slotOf(nameOf(prefix, key)) / (16_384 / shards)));
    if (counts[shard] >= perShard) continue;
    counts[shard] += 1;
    keys.push(key);
  }
  return keys;
}

/** Counters of one master: SPUBLISH and PUBLISH calls, classic messages received over the cluster bus. */
async function shardStats(node: ClusterNode) {
  const commands = await node.info("INFO", "commandstats");
  const calls = (name: string) =>
    Number(/calls=(\d+)/.exec(commands.get(`cmdstat_${name}`) ?? "")?.[1] ?? 0);
  const info = await node.info("CLUSTER", "INFO");
  return {
    spublish: calls("spublish"),
    publish: calls("publish"),
    publishReceived: Number(info.get("cluster_stats_messages_publish_received") ?? 0),
  };
}
