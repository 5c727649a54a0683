/**
 * The model-based reliability test with positions (issue 10): random
 * sequences of connects (resumed or new sessions), listens, notifies, stream
 * drops, node deaths and restarts, and bus outages (a node's bus cut while
 * the others notify; or cut until restored, its listens refused and its
 * notifies delivered there only meanwhile), and on Redis flushes (every
 * key's history lost: a new epoch; a late notification of the old one used to
 * make a second, spurious gap: test/server/sequencer.test.ts), on a small per-key
 * history (`size` 1 to 5, or roomy) so that keys' histories overflow; judged
 * per client and per key by positions (positions-runner.ts). Two nodes on an
 * in-process bus, one node on its own in-process history (a restart is a new
 * epoch), and two nodes on Redis, each behind its own TCP proxy.
 * RELIABILITY_RUNS multiplies the number of runs; FC_SEED / FC_PATH replay one.
 */
import fc from "fast-check";
import { REDIS_URL, requireRedis } from "../bus/helpers.js";
import { scale } from "./ops.js";
import { type POp, pOpArbitrary, withSetup } from "./positions-ops.js";
import { ptally, runPositionOps } from "./positions-runner.js";
import type { PWorldOptions } from "./positions-world.js";

const size = fc.constantFrom(1, 1, 2, 3, 5, 100);

function property(base: Omit<PWorldOptions, "size">, runs: number, steps: number) {
  const { numRuns, maxLength } = scale(runs, steps);
  return fc.assert(
    fc.asyncProperty(
      size,
      fc
        .array(pOpArbitrary(base.nodes, base.bus === "redis"), { maxLength, size: "max" })
        .map(withSetup),
      (s, ops) => runPositionOps({ ...base, size: s }, ops),
    ),
    {
      numRuns,
      ...(process.env.FC_SEED
        ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH, endOnFailure: true }
        : {}),
    },
  );
}

describe("reliability: the position model (deaths, restarts, outages, trims)", function () {
  this.timeout(120_000);
  after(() => {
    if (process.env.RELIABILITY_REPORT) console.log("position tally", JSON.stringify(ptally));
  });

  it("holds for two nodes on an in-process bus", () =>
    property({ bus: "broker", nodes: 2 }, 200, 50));

  it("holds for one node on its own history, restarts being new epochs", () =>
    property({ bus: "local", nodes: 1 }, 200, 40));

  describe("on Redis", () => {
    before(requireRedis);

    it("holds for two nodes on Redis, each behind its own proxy", () =>
      property({ bus: "redis", nodes: 2, redisUrl: REDIS_URL }, 15, 30));
  });

  describe("shrunk counterexamples", () => {
    // BUG: sequencer.ts #fill (relay.ts then) gave up on a history read that failed while the bus
    // was down (a check started as the bus came back, just before it dropped
    // again) and told `gap` for "b", which had lost nothing; it now stays
    // suspect and reads again when the bus is back. (test/e2e/bus-flap.test.ts)
    it("a check that cannot read while the bus is down again tells no gap", () =>
      runPositionOps({ bus: "broker", nodes: 2, size: 3 }, [
        { op: "connect", client: 0, node: 0, resume: false },
        { op: "listen", client: 0, key: 1 },
        { op: "listen", client: 1, key: 1 },
        { op: "kill", node: 1 },
        { op: "outage", node: 0, notifies: [] },
        { op: "cut", node: 0 },
        { op: "connect", client: 1, node: 0, resume: true },
      ] satisfies POp[]));

    describe("on Redis", () => {
      before(requireRedis);

      // BUG: track.ts missed() (relay.ts then): a fill across an epoch change (Redis flushed)
      // named the lost position in the old epoch, so client 0, which joined
      // in the new one, got "b"'s last kept entry without the gap for the
      // trimmed ones before it (a silent hole). (test/e2e/history-lost-outage.test.ts)
      it("a session that joined in a new epoch is told what the new epoch lost", () =>
        runPositionOps({ bus: "redis", nodes: 2, size: 1, redisUrl: REDIS_URL }, [
          { op: "listen", client: 0, key: 1 },
          { op: "connect", client: 1, node: 1, resume: false },
          { op: "listen", client: 1, key: 1 },
          { op: "flush" },
          { op: "connect", client: 0, node: 1, resume: false },
          {
            op: "outage",
            node: 1,
            notifies: [
              { node: 0, key: 1 },
              { node: 0, key: 1 },
              { node: 0, key: 1 },
            ],
          },
        ] satisfies POp[]));

      // BUG: core.ts listen answered 503 as soon as one item's history read
      // failed, while another item's read still waited behind a retrying
      // check: that key stayed listened, and got the notify made on the cut
      // node ("c", not listened). A batch is all or nothing (SPEC §4).
      // (test/e2e/bus-flap.test.ts)
      it("a /listen refused while the bus is down leaves no key of it listened", () =>
        runPositionOps({ bus: "redis", nodes: 2, size: 1, redisUrl: REDIS_URL }, [
          { op: "connect", client: 1, node: 1, resume: false },
          { op: "listen", client: 1, key: 1 },
          { op: "listen", client: 1, key: 2 },
          { op: "notify", node: 1, key: 1 },
          { op: "notify", node: 0, key: 2 },
          { op: "drop", client: 1 },
          { op: "listen", client: 0, key: 1 },
          {
            op: "outage",
            node: 1,
            notifies: [
              { node: 1, key: 1 },
              { node: 0, key: 1 },
              { node: 0, key: 1 },
              { node: 0, key: 1 },
            ],
          },
          { op: "cut", node: 1 },
          { op: "connect", client: 1, node: 1, resume: false },
          { op: "notify", node: 1, key: 1 },
          { op: "notify", node: 1, key: 2 },
          { op: "connect", client: 0, node: 0, resume: false },
          { op: "drop", client: 0 },
        ] satisfies POp[]));
    });
  });
});
