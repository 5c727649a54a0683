/**
 * The sequencer's pure checks (server/track.ts): whether a session's floor
 * covers a position, and what a history read proves lost after a hole.
 */
import { expect } from "chai";
import type { NotifyMessage } from "../../server/messages.js";
import { covered, joinMode, missed, type PositionedRead, unplacedBy } from "../../server/track.js";

/** A read of epoch `e` with top `top` returning the entries at `offsets`. */
function read(epoch: string, top: number, offsets: number[]): PositionedRead {
  const message = {} as NotifyMessage;
  return {
    epoch,
    top,
    entries: offsets.map((offset) => ({ offset, entry: { pos: { epoch, offset }, message } })),
  };
}

describe("track checks", () => {
  describe("covered", () => {
    it("covers what a session had when it joined, in its epoch and in the one before", () => {
      const floor = { pos: { epoch: "e2", offset: 5 }, older: "e1" };
      expect(covered(floor, { epoch: "e2", offset: 5 })).to.equal(true);
      expect(covered(floor, { epoch: "e2", offset: 6 })).to.equal(false);
      expect(covered(floor, { epoch: "e1", offset: 99 })).to.equal(true);
      expect(covered(floor, { epoch: "e0", offset: 1 })).to.equal(false);
      expect(covered(undefined, { epoch: "e2", offset: 1 })).to.equal(false);
    });
  });

  describe("missed", () => {
    const after = { epoch: "e", offset: 3 };

    it("finds nothing lost when the read continues right after the last position", () => {
      expect(missed(read("e", 5, [4, 5]), after, false, false, false)).to.equal(undefined);
      expect(missed(read("e", 3, []), after, false, false, false)).to.equal(undefined);
    });

    it("names the first position lost when the history no longer reaches back", () => {
      expect(missed(read("e", 9, [7, 8, 9]), after, false, false, false)).to.deep.equal({
        epoch: "e",
        offset: 6,
      });
    });

    it("takes a new epoch read in full as complete, unless the bus was lost meanwhile", () => {
      expect(missed(read("f", 2, [1, 2]), after, false, false, false)).to.equal(undefined);
      expect(missed(read("f", 2, [1, 2]), after, true, false, false)).to.deep.equal({
        epoch: "e",
        offset: 4,
      });
    });

    it("without a last position, tells a loss only when blind (and the key has notifies) or unplaced", () => {
      expect(missed(read("e", 4, []), undefined, false, false, false)).to.equal(undefined);
      expect(missed(read("e", 4, []), undefined, false, true, false)).to.deep.equal({
        epoch: "e",
        offset: 4,
      });
      expect(missed(read("e", 0, []), undefined, false, true, false)).to.equal(undefined);
      expect(missed(read("e", 0, []), undefined, false, false, true)).to.deep.equal({
        epoch: "e",
        offset: 0,
      });
    });

    it("tells a loss after a complete read when a notification had was in no history", () => {
      expect(missed(read("e", 5, [4, 5]), after, false, false, true)).to.deep.equal({
        epoch: "e",
        offset: 4,
      });
    });
  });

  describe("joinMode", () => {
    it("joins a key new, again, or replayed, as the session stands", () => {
      expect(joinMode(false, false, false)).to.equal("new");
      expect(joinMode(false, false, true)).to.equal(
        "new",
        "a replay of a key not listened: requests.ts drops it",
      );
      expect(joinMode(false, true, false)).to.equal("again");
      expect(joinMode(false, true, true)).to.equal("replay");
      expect(joinMode(true, false, true)).to.equal("again", "the key named twice in one batch");
    });

    it("replays a key whose own join (another request) is still pending: it answers recovered for it", () => {
      expect(joinMode(true, true, true)).to.equal("replay");
      expect(joinMode(true, true, false)).to.equal("again");
    });
  });

  describe("unplacedBy", () => {
    const r = read("b", 2, [1, 2]);
    const at = (epoch: string, offset: number) => ({
      pos: { epoch, offset },
      message: {} as NotifyMessage,
    });

    it("finds one of another epoch or past the read's top, but of the epoch left", () => {
      expect(unplacedBy(r, [at("b", 1), at("b", 2)], undefined)).to.equal(undefined);
      expect(unplacedBy(r, [at("b", 1), at("b", 3)], undefined)?.pos).to.deep.equal(at("b", 3).pos);
      expect(unplacedBy(r, [at("a", 3)], undefined)?.pos).to.deep.equal(at("a", 3).pos);
      expect(unplacedBy(r, [at("a", 3), at("b", 1)], "a")).to.equal(undefined);
      expect(unplacedBy(r, [at("z", 3)], "a")?.pos).to.deep.equal(at("z", 3).pos);
    });
  });
});
