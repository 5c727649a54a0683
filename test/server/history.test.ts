import { expect } from "chai";
import { History, type HistoryLimits } from "../../server/history.js";
import {
  continuous,
  EpochSource,
  formatPosition,
  newEpoch,
  parsePosition,
} from "../../server/positions.js";

const LIMITS: HistoryLimits = { size: 3, ttl: 1_000, maxBytes: 1_000 };

function clock(start = 0) {
  const state = { now: start };
  return { state, now: () => state.now };
}

function offsets(read: { entries: { offset: number }[] }): number[] {
  return read.entries.map((entry) => entry.offset);
}

describe("positions", () => {
  it("formats and parses <epoch>-<offset> canonically", () => {
    expect(formatPosition({ epoch: "abc1", offset: 0 })).to.equal("abc1-0");
    expect(parsePosition("abc1-17")).to.deep.equal({ epoch: "abc1", offset: 17 });
    expect(parsePosition("z-0")).to.deep.equal({ epoch: "z", offset: 0 });
  });

  it("refuses anything that is not a canonical position", () => {
    for (const text of [
      "",
      "abc",
      "abc-",
      "-1",
      "abc-01",
      "ABC-1",
      "abc-1.5",
      "abc--1",
      "abc-1 ",
      " abc-1",
      "a_b-1",
      `${"a".repeat(41)}-1`,
      "abc-99999999999999999",
      "abc-1-2",
    ]) {
      expect(parsePosition(text), text).to.equal(undefined);
    }
    for (const value of [null, 1, {}, ["a-1"], undefined, true]) {
      expect(parsePosition(value)).to.equal(undefined);
    }
  });

  it("makes distinct epochs", () => {
    const source = new EpochSource();
    const seen = new Set([newEpoch(), newEpoch(), source.next(), source.next(), source.next()]);
    expect(seen.size).to.equal(5);
    for (const epoch of seen) expect(parsePosition(`${epoch}-1`)).to.not.equal(undefined);
  });

  it("says a read is continuous only within one epoch, not ahead, entries right after", () => {
    const read = { epoch: "e", top: 5, entries: [{ offset: 4 }, { offset: 5 }] };
    expect(continuous(read, { epoch: "e", offset: 3 })).to.equal(true);
    expect(continuous(read, { epoch: "e", offset: 5 })).to.equal(true);
    expect(continuous(read, { epoch: "e", offset: 2 })).to.equal(false);
    expect(continuous(read, { epoch: "e", offset: 6 })).to.equal(false);
    expect(continuous(read, { epoch: "f", offset: 3 })).to.equal(false);
    expect(continuous({ epoch: "e", top: 0, entries: [] }, { epoch: "e", offset: 0 })).to.equal(
      true,
    );
  });
});

describe("History", () => {
  it("numbers a key's notifies 1, 2, 3 in one epoch and keys apart", () => {
    const history = new History<string>(LIMITS);
    const a1 = history.append("a", "x", 1);
    const a2 = history.append("a", "y", 1);
    const b1 = history.append("b", "z", 1);
    expect([a1.offset, a2.offset, b1.offset]).to.deep.equal([1, 2, 1]);
    expect(a1.epoch).to.equal(a2.epoch);
    expect(b1.epoch).to.not.equal(a1.epoch);
  });

  it("reads the entries after a position, none without one, all for another epoch", () => {
    const history = new History<string>(LIMITS);
    history.append("a", "x", 1);
    const p = history.append("a", "y", 1);
    history.append("a", "z", 1);
    const after = history.read("a", p);
    expect(after.entries).to.deep.equal([{ offset: 3, item: "z" }]);
    expect(after.top).to.equal(3);
    expect(history.read("a").entries).to.deep.equal([]);
    expect(offsets(history.read("a", { epoch: "other", offset: 2 }))).to.deep.equal([1, 2, 3]);
  });

  it("gives a key without history an epoch and top 0, kept for its next notify", () => {
    const history = new History<string>(LIMITS);
    const first = history.read("quiet");
    expect(first.top).to.equal(0);
    const next = history.append("quiet", "x", 1);
    expect(next).to.deep.equal({ epoch: first.epoch, offset: 1 });
    expect(continuous(history.read("quiet", { epoch: first.epoch, offset: 0 }), next)).to.equal(
      true,
    );
  });

  it("keeps the last `size` entries per key", () => {
    const history = new History<string>(LIMITS);
    for (const item of ["1", "2", "3", "4", "5"]) history.append("a", item, 1);
    const read = history.read("a", { epoch: history.read("a").epoch, offset: 0 });
    expect(read.entries.map((e) => e.item)).to.deep.equal(["3", "4", "5"]);
    expect(history.entries).to.equal(3);
    expect(history.bytes).to.equal(3);
  });

  it("keeps nothing with size 0 but still counts positions", () => {
    const history = new History<string>({ ...LIMITS, size: 0 });
    history.append("a", "1", 1);
    expect(history.append("a", "2", 1).offset).to.equal(2);
    expect(history.entries).to.equal(0);
    expect(history.read("a", { epoch: history.read("a").epoch, offset: 0 }).entries).to.deep.equal(
      [],
    );
  });

  it("drops a key's history ttl ms after its latest notify, and starts a new epoch", () => {
    const time = clock();
    const history = new History<string>(LIMITS, time.now);
    const old = history.append("a", "x", 5);
    history.append("b", "y", 5);
    time.state.now = 600;
    history.append("b", "y2", 5); // b's ttl runs again from here
    time.state.now = 1_001;
    history.sweep();
    expect(history.keys).to.equal(1);
    expect(history.bytes).to.equal(10);
    const read = history.read("a", old);
    expect(read.epoch).to.not.equal(old.epoch);
    expect(read.top).to.equal(0);
    expect(continuous(read, old)).to.equal(false);
    time.state.now = 1_601;
    history.sweep();
    expect(history.read("b", { epoch: "x", offset: 0 }).entries).to.deep.equal([]);
  });

  it("keeps at most maxBytes over all keys, oldest entry out first whatever its key", () => {
    const history = new History<string>({ size: 10, ttl: 60_000, maxBytes: 10 });
    history.append("a", "a1", 4);
    history.append("b", "b1", 4);
    history.append("a", "a2", 4); // 12 > 10: a1 goes
    expect(history.bytes).to.equal(8);
    const epochA = history.read("a").epoch;
    expect(
      history.read("a", { epoch: epochA, offset: 0 }).entries.map((e) => e.item),
    ).to.deep.equal(["a2"]);
    history.append("c", "c1", 4); // b1 goes
    const epochB = history.read("b").epoch;
    expect(history.read("b", { epoch: epochB, offset: 0 }).entries).to.deep.equal([]);
    expect(history.read("b").top).to.equal(1);
    expect(history.bytes).to.equal(8);
  });

  it("stays bounded over many appends (the order list is compacted)", () => {
    const history = new History<string>({ size: 2, ttl: 60_000, maxBytes: 1_000_000 });
    for (let i = 0; i < 20_000; i += 1) history.append(`k${i % 10}`, "x", 1);
    expect(history.entries).to.equal(20);
    expect(history.bytes).to.equal(20);
    history.append("big", "y", 999_985);
    expect(history.bytes).to.be.at.most(1_000_000);
    expect(history.read("big", { epoch: "z", offset: 0 }).entries.length).to.equal(1);
  });
});
