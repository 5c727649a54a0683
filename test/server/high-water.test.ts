import { expect } from "chai";
import { digest, HighWater } from "../../server/high-water.js";

const live = (pos: string, rest = '"type":"notify","n":1}') => `{"pos":"${pos}",${rest}`;

describe("high water (a history gone backwards)", () => {
  it("knows nothing of a channel at first: the scripts check nothing", () => {
    expect(new HighWater().args("c")).to.deep.equal(["", "0", "", "0"]);
  });

  it("keeps the highest position seen with its stored entry's digest, appends and live alike", () => {
    const seen = new HighWater();
    seen.saw("c", { epoch: "e", offset: 3 }, '{"n":3}');
    expect(seen.args("c")).to.deep.equal(["e", "3", digest('{"n":3}'), "0"]);
    expect(seen.live("c", live("e-4", '"n":4}'))).to.equal(true);
    expect(seen.args("c")).to.deep.equal(["e", "4", digest('{"n":4}'), "0"]);
    seen.saw("c", { epoch: "e", offset: 2 }, '{"n":2}'); // older: kept as it was
    expect(seen.args("c")[1]).to.equal("4");
    seen.saw("c", { epoch: "e", offset: 9 }, undefined); // higher, entry unknown: digest kept
    expect(seen.args("c")).to.deep.equal(["e", "4", digest('{"n":4}'), "0"]);
  });

  it("hands on messages without position (requests) untouched", () => {
    expect(new HighWater().live("n:x", '{"type":"request"}')).to.equal(true);
  });

  it("drops a live offset that does not grow, and every later one of that epoch, until a new epoch", () => {
    const seen = new HighWater();
    expect(seen.live("c", live("e-5"))).to.equal(true);
    expect(seen.live("c", live("e-3"))).to.equal(false);
    expect(seen.regressed("c")).to.equal(true);
    expect(seen.args("c")).to.deep.equal(["e", "5", digest('{"type":"notify","n":1}'), "1"]);
    expect(seen.live("c", live("e-9")), "the epoch is over").to.equal(false);
    seen.saw("c", { epoch: "f", offset: 0 }, undefined); // the script gave the key a new epoch
    expect(seen.regressed("c")).to.equal(false);
    expect(seen.args("c")[3]).to.equal("0");
    expect(seen.live("c", live("e-10")), "late, of the old epoch").to.equal(false);
    expect(seen.live("c", live("f-1"))).to.equal(true);
  });

  it("takes a live repeat within an epoch as a regression, not a duplicate to pass on", () => {
    const seen = new HighWater();
    expect(seen.live("c", live("e-1"))).to.equal(true);
    expect(seen.live("c", live("e-1"))).to.equal(false);
  });
});
