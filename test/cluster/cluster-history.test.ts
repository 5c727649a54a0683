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
import type { Notifier } from "../../server/index.js";
import { redisBus } from "../../server/redis.js";
import { redisNames } from "../../server/redis-history.js";
import { slotOf } from "../../server/slots.js";
import { chat, rawListen, stream } from "../e2e/history.js";
import { closeAll, type RawStream, startServer, until } from "../helpers.js";
import { type ClusterNode, LocalCluster, requireCluster } from "./local-cluster.js";

const KEY = "hot";
/** Enough that nothing a test sends is trimmed: a recovery is then decided by continuity alone. */
const HISTORY = { size: 100_000 };

type ChatNotifier = Notifier<string, string, string, string | null>;

const freshPrefix = () =>
  `sse-notif-hist:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`;

/** The slot of the hot key's channel, stream and meta. */
const hotSlot = (prefix: string) =>
  slotOf(redisNames(prefix, `t:chat:${JSON.stringify(KEY)}`).channel);

/** Numbered notifies on the hot key, one at a time (so in call order), from one node. */
class Notifies {
  readonly accepted: number[] = [];
  refused = 0;
  next = 0;
  #stopped = true;
  #done: Promise<void> = Promise.resolve();

  constructor(readonly notifier: ChatNotifier) {}

  start(): void {
    this.#stopped = false;
    this.#done = (async () => {
      while (!this.#stopped) {
        const n = this.next++;
        await this.notifier.notify(KEY, String(n)).then(
          () => this.accepted.push(n),
          () => {
            this.refused += 1;
            return new Promise((resolve) => setTimeout(resolve, 20)); // no master: not accepted
          },
        );
      }
    })();
  }

  /** Sends until `count` more were accepted. */
  async more(count: number, ms = 30_000): Promise<void> {
    const from = this.accepted.length;
    await until(() => this.accepted.length >= from + count, ms, `${count} more accepted`);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

interface Seen {
  readonly values: number[];
  readonly positions: (string | undefined)[];
  readonly gaps: number;
}

/** What a stream got on the hot key: values and positions in order, and the gaps told. */
function seen(raw: RawStream): Seen {
  const values: number[] = [];
  const positions: (string | undefined)[] = [];
  let gaps = 0;
  for (const event of raw.events.slice(1)) {
    const body = JSON.parse(event.data);
    if (event.event === "session") {
      if (body.status === "gap" && body.lost.some((item: { key: unknown }) => item.key === KEY))
        gaps += 1;
      continue;
    }
    values.push(Number(body.data));
    positions.push(body.pos);
  }
  return { values, positions, gaps };
}

/**
 * Once and in order; each accepted one there, or a gap told; positions
 * contiguous between two notifications unless a gap came between them.
 */
function check(raw: RawStream, accepted: readonly number[], label: string): Seen {
  const got = seen(raw);
  const sorted = [...new Set(got.values)].sort((x, y) => x - y);
  expect(got.values, `${label}: once, in order`).to.deep.equal(sorted);
  const missing = accepted.filter((n) => !got.values.includes(n));
  if (missing.length > 0) expect(got.gaps, `${label}: missed ${missing} untold`).to.be.above(0);
  let last: { epoch: string; offset: number } | undefined;
  let gapSince = false;
  for (const event of raw.events.slice(1)) {
    const body = JSON.parse(event.data);
    if (event.event === "session") {
      gapSince ||= body.status === "gap";
      continue;
    }
    if (body.pos === undefined) continue; // delivered on its node only (no master): in no history
    const at = body.pos.lastIndexOf("-");
    const pos = { epoch: body.pos.slice(0, at), offset: Number(body.pos.slice(at + 1)) };
    if (last && !gapSince) {
      const next = pos.epoch === last.epoch ? last.offset + 1 : 1;
      expect(pos.offset, `${label}: ${body.pos} right after ${last.epoch}-${last.offset}`).to.equal(
        next,
      );
    }
    last = pos;
    gapSince = false;
  }
  return got;
}

/** No position names two notifies, over every stream. */
function onePositionOneNotify(streams: readonly RawStream[]): void {
  const named = new Map<string, number>();
  for (const raw of streams) {
    const { values, positions } = seen(raw);
    positions.forEach((pos, i) => {
      if (pos === undefined) return;
      const value = values[i] as number;
      expect(named.get(pos) ?? value, `${pos} names two notifies`).to.equal(value);
      named.set(pos, value);
    });
  }
}

/** The position of the last notification a stream got. */
function lastPosition(raw: RawStream): { pos: string; value: number } {
  const { values, positions } = seen(raw);
  return { pos: positions.at(-1) as string, value: values.at(-1) as number };
}

/** Hubs A (notifies) and B on the cluster, and three streams listening to the hot key. */
async function hubs(cluster: LocalCluster, prefix: string) {
  const bus = () => redisBus({ cluster: { rootNodes: cluster.rootNodes }, prefix });
  const start = async () => {
    const server = await startServer({ bus: bus(), history: HISTORY });
    return { ...server, n: server.hub.notifier(chat) as ChatNotifier };
  };
  const a = await start();
  const b = await start();
  const streams = [await stream(b.url), await stream(b.url), await stream(a.url)];
  for (const raw of streams) {
    const url = raw === streams[2] ? a.url : b.url;
    const answer = await rawListen(url, { session: raw.session(), notifier: "chat", key: KEY });
    expect(answer.status).to.equal(204);
  }
  return { a, b, streams, start };
}

/** Until every stream got `value`. */
async function reached(streams: readonly RawStream[], value: number): Promise<void> {
  for (const raw of streams) {
    await until(() => seen(raw).values.includes(value), 10_000, `notify ${value} on every stream`);
  }
}

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

  // Notifies pause while it happens: one that the old master ran after the replica took over
  // (its paused writes released before it learnt it was demoted) is lost with it, and the key
  // rightly gets a new epoch; the flow through a failover is the bus suite's (cluster-topology).
  it("CLUSTER FAILOVER on the replica: delivery resumes, recovery by position across it", async () => {
    await acrossFailover(async (master, flow) => {
      const replica = await cluster.replicaOf(master);
      await replica.cli("CLUSTER", "FAILOVER");
      await until(async () => (await replica.role()) === "master", 20_000, "the promotion");
      flow.start();
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
