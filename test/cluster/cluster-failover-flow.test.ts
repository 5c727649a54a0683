/**
 * History on a real Redis Cluster while notifies flow through a manual
 * failover (`CLUSTER FAILOVER` on the replica): Redis pauses writes on the
 * old master, the replica catches up to it and takes over, so no
 * acknowledged write is lost. Every client then gets every notification
 * exactly once, in order, with no gap, and a client that left before the
 * failover recovers by position across it on another node (`recovered:
 * true`): a new epoch or a `gap` here would be a defect, not a loss.
 */
import { expect } from "chai";
import { epochOf, rawListen, stream } from "../e2e/history.js";
import { closeAll, type RawStream, until } from "../helpers.js";
import {
  check,
  freshPrefix,
  hotSlot,
  hubs,
  KEY,
  lastPosition,
  listenTo,
  Notifies,
  onePositionOneNotify,
  reached,
  seen,
} from "./history-flow.js";
import { type ClusterNode, LocalCluster, requireCluster } from "./local-cluster.js";

/** How many other keys of the hot key's shard also get notifies meanwhile. */
const OTHERS = 3;

/** `count` keys (not the hot one) whose slots `master` owns. */
async function keysOn(cluster: LocalCluster, master: ClusterNode, prefix: string, count: number) {
  const ranges = await cluster.slotsOf(master);
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i += 1) {
    const slot = hotSlot(prefix, `k${i}`);
    if (ranges.some(([from, to]) => slot >= from && slot <= to)) keys.push(`k${i}`);
  }
  return keys;
}

/** Every stream got each accepted notify of `key` once and in order, with no gap. */
function noGap(streams: readonly RawStream[], flow: Notifies, label: string): void {
  for (const [i, raw] of streams.entries()) {
    const got = check(raw, flow.accepted, `${label} stream ${i}`, flow.key);
    expect(got.gaps, `${label} stream ${i}: no gap, nothing was lost`).to.equal(0);
  }
  onePositionOneNotify(streams, flow.key);
}

describe("history on a Redis Cluster: notifies flowing through a manual failover", function () {
  this.timeout(90_000);
  let cluster: LocalCluster;
  beforeEach(async function () {
    cluster = new LocalCluster({ masters: 3, replicas: 1 });
    await requireCluster(cluster).call(this);
  });
  afterEach(async () => {
    await closeAll();
    await cluster?.stop();
  });

  it("CLUSTER FAILOVER while a hot key and others of its shard get notifies: once, in order, no gap, recovered", async () => {
    const prefix = freshPrefix();
    const { a, b, streams } = await hubs(cluster, prefix);
    const master = await cluster.ownerOf(hotSlot(prefix));
    const replica = await cluster.inSync(master);
    const others = await keysOn(cluster, master, prefix, OTHERS);
    const side = [await stream(a.url), await stream(b.url)];
    for (const [i, raw] of side.entries()) await listenTo(i === 0 ? a.url : b.url, raw, others);
    const hot = new Notifies(a.n);
    const flows = [hot, ...others.map((key, i) => new Notifies(i % 2 === 0 ? b.n : a.n, key))];
    for (const flow of flows) flow.start();
    await hot.more(20);
    const leaving = streams[0] as RawStream;
    leaving.close(); // on B, while notifies flow: it comes back on A with its last position
    const left = lastPosition(leaving);
    expect(left.pos, "the leaving stream got some").to.be.a("string");
    await replica.cli("CLUSTER", "FAILOVER");
    await until(async () => (await replica.role()) === "master", 20_000, "the promotion");
    await Promise.all(flows.map((flow) => flow.more(flow === hot ? 30 : 10)));
    await Promise.all(flows.map((flow) => flow.stop()));
    const live = streams.slice(1);
    await reached(live, hot.accepted.at(-1) as number);
    noGap(live, hot, KEY);
    const epochs = new Set(seen(streams[1] as RawStream).positions.map((pos) => epochOf(`${pos}`)));
    expect([...epochs], "the hot key kept its epoch: nothing was lost").to.have.length(1);
    for (const flow of flows.slice(1)) {
      await reached(side, flow.accepted.at(-1) as number, flow.key);
      noGap(side, flow, flow.key);
    }
    const back = await stream(a.url);
    const answer = await rawListen(a.url, {
      session: back.session(),
      items: [{ notifier: "chat", key: KEY, since: left.pos }],
    });
    expect(JSON.parse(answer.text).items[0], "recovered across the failover").to.include({
      recovered: true,
    });
    const missed = seen(streams[1] as RawStream).values.filter((n) => n > left.value);
    await until(() => seen(back).values.length >= missed.length, 10_000, "the replay");
    expect(seen(back).values).to.deep.equal(missed);
    expect(a.hub.stats().bus).to.equal("ok");
    expect(b.hub.stats().bus).to.equal("ok");
  });
});
