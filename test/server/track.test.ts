/**
 * The sequencer's pure checks (server/track.ts): whether a session's floor
 * covers a position, and what a history read proves lost after a hole.
 */
import { expect } from "chai";
import type { NotifyMessage } from "../../server/messages.js";
import { covered, missed, type PositionedRead } from "../../server/track.js";

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
});
