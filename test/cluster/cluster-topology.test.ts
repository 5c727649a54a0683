/**
 * The cluster bus through topology changes, on a real cluster of three
 * masters with a replica each, started by this file: a slot moved by hand
 * while messages flow, a manual failover, a master killed. Subscriptions
 * must follow their slot, and a subscription that may have missed messages
 * must be reported (`onResubscribed`) once it is in effect again: every
 * message published after that report arrives, and none arrives twice.
 */
import { expect } from "chai";
import type { Bus, BusStatus } from "../../server/bus.js";
import { redisBus } from "../../server/redis.js";
import { slotOf, taggedName } from "../../server/slots.js";
import { freshChannel, until } from "../bus/helpers.js";
import { type ClusterNode, LocalCluster, requireCluster } from "./local-cluster.js";

interface Watched {
  readonly bus: Bus;
  readonly errors: Error[];
  readonly statuses: BusStatus[];
  /** Each onResubscribed call's channels. */
  readonly resubscribed: string[][];
}

describe("Redis Cluster bus through resharding and failover", function () {
  this.timeout(60_000);
  const cluster = new LocalCluster({ masters: 3, replicas: 1 });
  const prefix = "sse-notif-topology:";
  /** A bus started before its cluster existed. */
  let early: Watched;
  const earlyChannel = freshChannel("early");
  const earlyGot: string[] = [];
  let earlyStart = 0;
  let earlySubscribe = 0;
  let earlyPublish: unknown;
  before(
    requireCluster(cluster, async () => {
      let began = Date.now();
      early = await watch("early");
      earlyStart = Date.now() - began;
      began = Date.now();
      await early.bus.subscribe(earlyChannel, (message) => earlyGot.push(message));
      earlySubscribe = Date.now() - began;
      earlyPublish = await early.bus.publish(earlyChannel, "nobody").catch((error) => error);
    }),
  );
  after(async () => {
    await early?.bus.close();
    await cluster.stop();
  });

  const started: Watched[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((node) => node.bus.close()));
  });

  async function start(nodeId: string): Promise<Watched> {
    const node = await watch(nodeId);
    started.push(node);
    return node;
  }

  async function watch(nodeId: string): Promise<Watched> {
    const node: Watched = {
      bus: redisBus({ cluster: { rootNodes: cluster.rootNodes }, prefix }),
      errors: [],
      statuses: [],
      resubscribed: [],
    };
    await node.bus.start({
      nodeId,
      onError: (error) => node.errors.push(error),
      onStatus: (status) => node.statuses.push(status),
      onResubscribed: (channels) => {
        node.resubscribed.push(channels);
        flow?.mark(channels);
      },
    });
    return node;
  }

  let flow: Flow | undefined;

  /** Publishes numbered messages on `channel` from `from` until stopped; `to` records them. */
  class Flow {
    readonly sent: number[] = [];
    readonly received: number[] = [];
    /** The first number published after the latest onResubscribed naming the channel. */
    checkedFrom = 0;
    #next = 0;
    #stopped = false;
    #done: Promise<void> | undefined;

    constructor(
      readonly channel: string,
      readonly from: Watched,
    ) {}

    mark(channels: string[]): void {
      if (channels.includes(this.channel)) this.checkedFrom = this.#next;
    }

    run(): void {
      this.#done = (async () => {
        while (!this.#stopped) {
          const n = this.#next++;
          await this.from.bus.publish(this.channel, String(n)).then(
            () => this.sent.push(n),
            () => {}, // refused while the shard is away: never sent
          );
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      })();
    }

    async stop(): Promise<void> {
      // a last message published well after every report must arrive
      await until(() => this.sent.some((n) => n >= this.checkedFrom + 20), 20_000, "more sent");
      this.#stopped = true;
      await this.#done;
      const last = this.sent.at(-1)!;
      await until(() => this.received.includes(last), 5_000, `message ${last}`);
    }

    /** In order, never twice, and nothing missing that was published after the last report. */
    check(): void {
      const sorted = [...this.received].sort((a, b) => a - b);
      expect(this.received, "in order").to.deep.equal(sorted);
      expect(new Set(this.received).size, "never twice").to.equal(this.received.length);
      const missing = this.sent.filter((n) => !this.received.includes(n));
      expect(
        missing.filter((n) => n >= this.checkedFrom),
        "lost after the last onResubscribed",
      ).to.deep.equal([]);
    }
  }

  async function flowing(): Promise<{ a: Watched; b: Watched; f: Flow; slot: number }> {
    const a = await start("a");
    const b = await start("b");
    const channel = freshChannel("hot");
    const f = new Flow(channel, b);
    flow = f;
    await a.bus.subscribe(channel, (message) => f.received.push(Number(message)));
    f.run();
    await until(() => f.received.length >= 20, 5_000, "messages flowing");
    return { a, b, f, slot: slotOf(taggedName(prefix, channel)) };
  }

  async function replicaOf(master: ClusterNode): Promise<ClusterNode> {
    for (const node of cluster.nodes.filter((n) => n.running)) {
      const info = await node.info("INFO", "replication");
      if (info.get("role") === "slave" && info.get("master_port") === String(master.port)) {
        return node;
      }
    }
    throw new Error(`no replica of ${master.port}`);
  }

  it("starts before its cluster exists: degraded, one report, then ok with what it subscribed meanwhile", async () => {
    expect(earlyStart, "start does not wait for the cluster").to.be.below(2_000);
    expect(earlySubscribe, "subscribe while down resolves at once").to.be.below(500);
    expect((earlyPublish as Error).message).to.match(/unreachable/);
    expect(early.errors, "one report while down").to.have.length(1);
    await until(() => early.bus.status() === "ok", 10_000, "ok once the cluster is up");
    await until(() => early.resubscribed.flat().includes(earlyChannel), 5_000, "the report");
    const other = await start("other");
    await other.bus.publish(earlyChannel, "now");
    await until(() => earlyGot.includes("now"), 3_000, "the message");
    expect(early.statuses).to.deep.equal(["ok"]);
  });

  it("follows a slot moved to another master while messages flow, and reports the channel", async () => {
    const { a, f, slot } = await flowing();
    const source = await cluster.ownerOf(slot);
    const target = (await cluster.masters()).find((master) => master !== source)!;
    const reports = a.resubscribed.length;
    await cluster.moveSlot(slot, target);
    await until(() => a.resubscribed.length > reports, 10_000, "onResubscribed");
    expect(a.resubscribed.slice(reports).flat()).to.include(f.channel);
    await f.stop();
    f.check();
    expect(await target.cli("PUBSUB", "SHARDNUMSUB", taggedName(prefix, f.channel))).to.match(
      /\n1$/,
    );
    expect(a.errors).to.deep.equal([]);
  });

  it("follows a manual failover (CLUSTER FAILOVER on the replica)", async () => {
    const { a, f, slot } = await flowing();
    const replica = await replicaOf(await cluster.ownerOf(slot));
    const reports = a.resubscribed.length;
    await replica.cli("CLUSTER", "FAILOVER");
    await until(async () => (await replica.role()) === "master", 10_000, "the promotion");
    await cluster.settled();
    await until(() => a.resubscribed.length > reports, 10_000, "onResubscribed");
    await f.stop();
    f.check();
    expect((await cluster.ownerOf(slot)).port).to.equal(replica.port);
  });

  it("goes degraded when a master is killed, reports once, and resumes once its replica took over", async () => {
    const { a, b, f, slot } = await flowing();
    const victim = await cluster.ownerOf(slot);
    const replica = await replicaOf(victim);
    const reports = a.resubscribed.length;
    await victim.kill();
    await until(() => a.bus.status() === "degraded", 5_000, "degraded");
    await until(async () => (await replica.role()) === "master", 20_000, "the promotion");
    await until(() => a.bus.status() === "ok" && b.bus.status() === "ok", 20_000, "ok again");
    await until(() => a.resubscribed.length > reports, 10_000, "onResubscribed");
    await f.stop();
    f.check();
    expect(a.statuses).to.deep.equal(["ok", "degraded", "ok"]);
    expect(a.errors.length, "one report per outage").to.equal(1);
    await victim.start(); // rejoins as a replica of the promoted node
    await cluster.settled();
  });

  it("starts while a master is dead and its replica not yet promoted: degraded, then ok and serving", async () => {
    const victim = (await cluster.masters())[0] as ClusterNode;
    const replica = await replicaOf(victim);
    await victim.kill();
    const late = await start("late"); // node-redis would wait for the dead master for ever
    await until(async () => (await replica.role()) === "master", 20_000, "the promotion");
    await until(() => late.bus.status() === "ok", 20_000, "ok once promoted");
    const other = await start("other");
    const channel = freshChannel("late");
    const got: string[] = [];
    await late.bus.subscribe(channel, (message) => got.push(message));
    await other.bus.publish(channel, "served");
    await until(() => got.includes("served"), 5_000, "the message");
    await victim.start();
    await cluster.settled();
  });
});
