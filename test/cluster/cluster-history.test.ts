/**
 * History on a real Redis Cluster through topology changes, from notify to
 * client streams: a hot key's slot resharded while notifies flow, a manual
 * failover, a killed master, and a failover that lost acknowledged writes.
 * Every client gets each accepted notify exactly once and in order, or is
 * told `gap` for that key; no position ever names two notifies; recovery by
 * position works across a failover that lost nothing and says
 * `recovered: false` across one that lost something.
 */
import { expect } from "chai";
import { rawListen, stream } from "../e2e/history.js";
import { closeAll, type RawStream, until } from "../helpers.js";
import {
  check,
  freshPrefix,
  hotSlot,
  hubs,
  KEY,
  lastPosition,
  Notifies,
  onePositionOneNotify,
  reached,
  seen,
} from "./history-flow.js";
import { type ClusterNode, LocalCluster, requireCluster } from "./local-cluster.js";

describe("history on a Redis Cluster: a hot key resharded while notifies flow", function () {
  this.timeout(60_000);
  const cluster = new LocalCluster({ masters: 3 });
  before(requireCluster(cluster));
  after(() => cluster.stop());
  afterEach(closeAll);

  it("moves the key's slot twice: each accepted notify once and in order, or a gap told", async () => {
    const prefix = freshPrefix();
    const { a, streams } = await hubs(cluster, prefix);
    const flow = new Notifies(a.n);
    flow.start();
    await flow.more(50);
    const slot = hotSlot(prefix);
    const owners: number[] = [(await cluster.ownerOf(slot)).port];
    for (let round = 0; round < 2; round += 1) {
      const masters = await cluster.masters();
      const target = masters.find((master) => !owners.includes(master.port)) as ClusterNode;
      await cluster.moveSlot(slot, target); // SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE
      owners.push(target.port);
      await flow.more(50);
    }
    await flow.stop();
    await reached(streams, flow.accepted.at(-1) as number);
    for (const [i, raw] of streams.entries()) check(raw, flow.accepted, `stream ${i}`);
    onePositionOneNotify(streams);
    expect(new Set(owners).size, "the slot moved each time").to.equal(3);
    expect((await cluster.ownerOf(slot)).port).to.equal(owners.at(-1));
  });

  it("moves the key's stream and meta in two MIGRATEs: TRYAGAIN meanwhile is retried, no notify refused", async () => {
    const prefix = freshPrefix();
    const { a, streams } = await hubs(cluster, prefix);
    const flow = new Notifies(a.n);
    flow.start();
    await flow.more(50);
    const slot = hotSlot(prefix);
    const source = await cluster.ownerOf(slot);
    const target = (await cluster.masters()).find((master) => master !== source) as ClusterNode;
    const before = await tryAgainReplies(source);
    await cluster.moveSlot(slot, target, { oneKeyAtATime: true });
    await flow.more(50);
    await flow.stop();
    expect(await tryAgainReplies(source), "TRYAGAIN answered meanwhile").to.be.above(before);
    expect(flow.refused, "notifies refused").to.equal(0);
    await reached(streams, flow.accepted.at(-1) as number);
    for (const [i, raw] of streams.entries()) check(raw, flow.accepted, `stream ${i}`);
    onePositionOneNotify(streams);
  });
});

/** How many TRYAGAIN errors a node answered (INFO errorstats). */
async function tryAgainReplies(node: ClusterNode): Promise<number> {
  const stats = await node.info("INFO", "errorstats");
  return Number(/count=(\d+)/.exec(stats.get("errorstat_TRYAGAIN") ?? "")?.[1] ?? 0);
}

describe("history on a Redis Cluster through failover (three masters, three replicas)", function () {
  this.timeout(90_000);
  let cluster: LocalCluster;
  // a fresh cluster per test: an earlier failover's replica may still be resyncing
  beforeEach(async function () {
    cluster = new LocalCluster({ masters: 3, replicas: 1 });
    await requireCluster(cluster).call(this);
  });
  afterEach(async () => {
    await closeAll();
    await cluster?.stop();
  });

  /** A client on B leaves with its position; the caller fails over; it recovers on A. */
  async function acrossFailover(failover: (master: ClusterNode, flow: Notifies) => Promise<void>) {
    const prefix = freshPrefix();
    const { a, b, streams } = await hubs(cluster, prefix);
    const flow = new Notifies(a.n);
    flow.start();
    await flow.more(20);
    await flow.stop();
    const master = await cluster.ownerOf(hotSlot(prefix));
    await cluster.inSync(master);
    const leaving = streams[0] as RawStream;
    await reached([leaving], flow.accepted.at(-1) as number);
    const left = lastPosition(leaving);
    leaving.close();
    const live = streams.slice(1);
    await failover(master, flow);
    await flow.more(30);
    await flow.stop();
    await reached(live, flow.accepted.at(-1) as number);
    for (const [i, raw] of live.entries()) {
      expect(check(raw, flow.accepted, `stream ${i + 1}`).gaps, "no gap: nothing lost").to.equal(0);
    }
    onePositionOneNotify(live);
    const back = await stream(a.url);
    const answer = await rawListen(a.url, {
      session: back.session(),
      items: [{ notifier: "chat", key: KEY, since: left.pos }],
    });
    expect(JSON.parse(answer.text).items[0].recovered, "recovered across the failover").to.equal(
      true,
    );
    const after = flow.accepted.filter((n) => n > left.value);
    await until(() => seen(back).values.length >= after.length, 10_000, "the replay");
    expect(seen(back).values).to.deep.equal(
      seen(streams[1] as RawStream).values.filter((n) => n > left.value),
    );
    expect(b.hub.stats().bus).to.equal("ok");
  }

  // Notifies flow while it happens: a manual failover loses no acknowledged write (the old
  // master pauses writes until its replica caught up), so the key keeps its epoch.
  it("CLUSTER FAILOVER on the replica while notifies flow: delivery resumes, recovery by position across it", async () => {
    await acrossFailover(async (master, flow) => {
      const replica = await cluster.replicaOf(master);
      flow.start();
      await flow.more(20);
      await replica.cli("CLUSTER", "FAILOVER");
      await until(async () => (await replica.role()) === "master", 20_000, "the promotion");
    });
  });

  it("a killed master: delivery resumes once its replica took over, recovery by position across it", async () => {
    await acrossFailover(async (master, flow) => {
      const replica = await cluster.replicaOf(master);
      await master.kill(); // in sync (checked above, nothing sent since): nothing lost
      flow.start(); // refused while the slot has no master, accepted again after the promotion
      await until(async () => (await replica.role()) === "master", 20_000, "the promotion");
    });
  });

  it("a failover that lost acknowledged writes: a new epoch and a gap, never a position naming two notifies", async () => {
    const prefix = freshPrefix();
    const { a, streams, start } = await hubs(cluster, prefix);
    const flow = new Notifies(a.n);
    flow.start();
    await flow.more(20);
    await flow.stop();
    const master = await cluster.ownerOf(hotSlot(prefix));
    const replica = await cluster.inSync(master);
    await reached(streams, flow.accepted.at(-1) as number);
    const common = lastPosition(streams[0] as RawStream); // a position the replica has
    replica.pause(); // from here the replica gets nothing: stopped, and its link cut by the master
    expect(Number(await master.cli("CLIENT", "KILL", "TYPE", "replica"))).to.equal(1);
    flow.start();
    await flow.more(5); // accepted, published, delivered: on the master only
    await flow.stop();
    await reached(streams, flow.accepted.at(-1) as number);
    const lost = lastPosition(streams[0] as RawStream);
    await master.kill();
    replica.resume();
    await until(async () => (await replica.role()) === "master", 30_000, "the promotion");
    await cluster.settled(); // a hub started while nodes disagree on a dead master waits for it
    // a node that never saw the key notifies: the promoted copy would give it a used position
    const c = await start();
    const later = new Notifies(c.n);
    later.next = 1_000;
    later.start();
    await later.more(20); // some may be lost too (a used position, dropped): then told
    for (const [i, raw] of streams.entries()) {
      await until(() => seen(raw).gaps > 0, 10_000, `stream ${i} told the loss`);
    }
    const told = later.accepted.length;
    await later.more(20); // after the gap: in the new epoch, all of them
    await later.stop();
    await reached(streams, later.accepted.at(-1) as number);
    for (const raw of streams) {
      expect(later.accepted.slice(told).filter((n) => !seen(raw).values.includes(n))).to.deep.equal(
        [],
      );
    }
    const accepted = [...flow.accepted, ...later.accepted];
    streams.forEach((raw, i) => {
      const got = check(raw, accepted, `stream ${i}`);
      expect(got.gaps, `stream ${i} told the loss`).to.be.above(0);
    });
    onePositionOneNotify(streams);
    const { epoch } = { epoch: lost.pos.slice(0, lost.pos.lastIndexOf("-")) };
    const now = seen(streams[0] as RawStream).positions.at(-1) as string;
    expect(now.startsWith(`${epoch}-`), "a new epoch after the loss").to.equal(false);
    for (const since of [common.pos, lost.pos]) {
      const back = await stream(a.url);
      const answer = await rawListen(a.url, {
        session: back.session(),
        items: [{ notifier: "chat", key: KEY, since }],
      });
      expect(JSON.parse(answer.text).items[0].recovered, `since ${since}`).to.equal(false);
    }
  });
});
