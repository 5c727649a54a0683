/** Per-key order behind async work (server/key-order.ts), alone: no timers, no sessions. */
import { expect } from "chai";
import { type Job, KeyOrder } from "../../server/key-order.js";

describe("KeyOrder", () => {
  it("runs a ready job at once when nothing waits on its key, and keeps no queue", () => {
    const order = new KeyOrder<string>();
    const ran: string[] = [];
    order.schedule("a", { pending: 0, run: () => ran.push("j1") });
    expect(ran).to.deep.equal(["j1"]);
    expect(order.waiting("a")).to.equal(false);
  });

  it("holds later jobs on a key behind a pending one, and runs them in order once it is ready", () => {
    const order = new KeyOrder<string>();
    const ran: string[] = [];
    const slow: Job = { pending: 1, run: () => ran.push("slow") };
    order.schedule("a", slow);
    order.schedule("a", { pending: 0, run: () => ran.push("next") });
    order.schedule("b", { pending: 0, run: () => ran.push("other key") });
    expect(ran).to.deep.equal(["other key"]);
    expect(order.waiting("a")).to.equal(true);
    slow.pending -= 1;
    order.drain("a");
    expect(ran).to.deep.equal(["other key", "slow", "next"]);
    expect(order.waiting("a")).to.equal(false);
  });

  it("stops at the first job still pending, even when later ones are ready", () => {
    const order = new KeyOrder<string>();
    const ran: string[] = [];
    const first: Job = { pending: 1, run: () => ran.push("first") };
    const second: Job = { pending: 1, run: () => ran.push("second") };
    order.schedule("a", first);
    order.schedule("a", second);
    second.pending -= 1;
    order.drain("a");
    expect(ran).to.deep.equal([]);
    first.pending -= 1;
    order.drain("a");
    expect(ran).to.deep.equal(["first", "second"]);
  });
});
