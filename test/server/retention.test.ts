import { expect } from "chai";
import fc from "fast-check";
import { planResume, Retention } from "../../server/retention.js";

function filled(capacity: number, count: number): Retention {
  const retention = new Retention(capacity);
  for (let i = 1; i <= count; i += 1) retention.push(`e${i}`);
  return retention;
}

function kept(retention: Retention): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  for (let seq = retention.first; seq <= retention.last; seq += 1) out.push(retention.get(seq));
  return out;
}

describe("Retention", () => {
  it("starts empty: last 0, first 1", () => {
    const retention = new Retention(3);
    expect(retention.last).to.equal(0);
    expect(retention.first).to.equal(1);
    expect(retention.get(0)).to.equal(undefined);
    expect(retention.get(1)).to.equal(undefined);
  });

  it("numbers pushed events 1, 2, 3… and gives each back by seq", () => {
    const retention = new Retention(3);
    expect(retention.push("a")).to.equal(1);
    expect(retention.push("b")).to.equal(2);
    expect(retention.first).to.equal(1);
    expect(retention.last).to.equal(2);
    expect(retention.get(1)).to.equal("a");
    expect(retention.get(2)).to.equal("b");
    expect(retention.get(3)).to.equal(undefined);
  });

  it("keeps exactly capacity events when full", () => {
    const retention = filled(3, 3);
    expect([retention.first, retention.last]).to.deep.equal([1, 3]);
    expect(kept(retention)).to.deep.equal(["e1", "e2", "e3"]);
  });

  it("evicts the oldest event past capacity", () => {
    const retention = filled(3, 4);
    expect([retention.first, retention.last]).to.deep.equal([2, 4]);
    expect(retention.get(1)).to.equal(undefined);
    expect(kept(retention)).to.deep.equal(["e2", "e3", "e4"]);
  });

  it("stays in order after wrapping around many times", () => {
    const retention = filled(3, 11);
    expect([retention.first, retention.last]).to.deep.equal([9, 11]);
    expect(kept(retention)).to.deep.equal(["e9", "e10", "e11"]);
    expect(retention.get(8)).to.equal(undefined);
    expect(retention.get(12)).to.equal(undefined);
  });

  it("with capacity 1 keeps only the newest event", () => {
    const retention = filled(1, 5);
    expect([retention.first, retention.last]).to.deep.equal([5, 5]);
    expect(retention.get(5)).to.equal("e5");
    expect(retention.get(4)).to.equal(undefined);
  });

  it("with capacity 0 keeps nothing but still numbers events", () => {
    const retention = new Retention(0);
    expect(retention.push("a")).to.equal(1);
    expect(retention.push("b")).to.equal(2);
    expect(retention.last).to.equal(2);
    expect(retention.first).to.equal(3);
    expect(retention.get(1)).to.equal(undefined);
    expect(retention.get(2)).to.equal(undefined);
  });

  it("clear frees the events but the numbering goes on", () => {
    const retention = filled(3, 5);
    retention.clear();
    expect(retention.last).to.equal(5);
    expect(retention.first).to.equal(6);
    expect(retention.get(5)).to.equal(undefined);
    expect(retention.push("x")).to.equal(6);
    expect(retention.get(6)).to.equal("x");
    retention.push("y");
    retention.push("z");
    retention.push("w");
    expect(kept(retention)).to.deep.equal(["y", "z", "w"]);
  });

  for (const capacity of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    it(`refuses capacity ${capacity} with a RangeError`, () => {
      expect(() => new Retention(capacity)).to.throw(RangeError);
    });
  }
});

describe("planResume", () => {
  it("resumes right after the last event when nothing is missing", () => {
    const retention = filled(3, 5);
    expect(planResume(retention, 5)).to.deep.equal({ type: "resumed" });
  });

  it("resumes from the oldest kept event when the client has the one before it", () => {
    const retention = filled(3, 5); // keeps 3, 4, 5
    expect(planResume(retention, 2)).to.deep.equal({ type: "resumed" });
    expect(planResume(retention, 3)).to.deep.equal({ type: "resumed" });
  });

  it("says gap one seq below that, naming the last evicted event", () => {
    const retention = filled(3, 5);
    expect(planResume(retention, 1)).to.deep.equal({ type: "gap", lastEvicted: 2 });
    expect(planResume(retention, 0)).to.deep.equal({ type: "gap", lastEvicted: 2 });
  });

  it("says invalid for a seq the session never sent", () => {
    const retention = filled(3, 5);
    expect(planResume(retention, 6)).to.deep.equal({ type: "invalid" });
    expect(planResume(retention, 1000)).to.deep.equal({ type: "invalid" });
  });

  it("resumes a session that sent nothing yet from seq 0 only", () => {
    const retention = new Retention(3);
    expect(planResume(retention, 0)).to.deep.equal({ type: "resumed" });
    expect(planResume(retention, 1)).to.deep.equal({ type: "invalid" });
  });

  it("with capacity 0 resumes only a client that has everything", () => {
    const retention = filled(0, 2);
    expect(planResume(retention, 2)).to.deep.equal({ type: "resumed" });
    expect(planResume(retention, 1)).to.deep.equal({ type: "gap", lastEvicted: 2 });
  });

  it("after clear, says gap for any seq before the last", () => {
    const retention = filled(3, 5);
    retention.clear();
    expect(planResume(retention, 5)).to.deep.equal({ type: "resumed" });
    expect(planResume(retention, 4)).to.deep.equal({ type: "gap", lastEvicted: 5 });
  });
});

describe("Retention bounded in bytes (retentionBytes)", () => {
  it("drops the oldest events past maxBytes, counting UTF-8 bytes", () => {
    const retention = new Retention(10, 10);
    for (const body of ["aaaa", "bbbb", "cc"]) retention.push(body);
    expect([retention.first, retention.last, retention.bytes]).to.deep.equal([1, 3, 10]);
    retention.push("é"); // 2 bytes: "aaaa" goes
    expect([retention.first, retention.bytes]).to.deep.equal([2, 8]);
    expect(kept(retention)).to.deep.equal(["bbbb", "cc", "é"]);
    expect(planResume(retention, 0)).to.deep.equal({ type: "gap", lastEvicted: 1 });
    expect(planResume(retention, 1)).to.deep.equal({ type: "resumed" });
  });

  it("keeps none of the backlog when one event is over maxBytes alone", () => {
    const retention = new Retention(10, 10);
    retention.push("abc");
    expect(retention.push("x".repeat(11))).to.equal(2);
    expect([retention.first, retention.last, retention.bytes]).to.deep.equal([3, 2, 0]);
    expect(planResume(retention, 1)).to.deep.equal({ type: "gap", lastEvicted: 2 });
    retention.push("ok");
    expect(kept(retention)).to.deep.equal(["ok"]);
  });

  it("matches a model: the longest suffix within both bounds, for random pushes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 40 }),
        fc.array(fc.string({ unit: fc.constantFrom("a", "é", "😀"), maxLength: 12 }), {
          maxLength: 60,
        }),
        (capacity, maxBytes, bodies) => {
          const retention = new Retention(capacity, maxBytes);
          const all: string[] = [];
          for (const body of bodies) {
            all.push(body);
            expect(retention.push(body)).to.equal(all.length);
            let bytes = 0;
            let first = all.length + 1;
            for (let seq = all.length; seq >= 1; seq -= 1) {
              const size = Buffer.byteLength(all[seq - 1] ?? "");
              if (all.length - seq + 1 > capacity || bytes + size > maxBytes) break;
              bytes += size;
              first = seq;
            }
            expect([retention.first, retention.bytes]).to.deep.equal([first, bytes]);
            expect(kept(retention)).to.deep.equal(all.slice(first - 1));
            expect(retention.get(first - 1)).to.equal(undefined);
          }
        },
      ),
    );
  });
});
