/** A node's own notifies and their echo (server/echoes.ts), alone: no bus, no hub. */
import { expect } from "chai";
import { Echoes } from "../../server/echoes.js";

describe("Echoes", () => {
  it("gives an awaited notify back once, then never again", () => {
    const echoes = new Echoes();
    const awaited = { here: () => {}, at: Date.now() };
    echoes.await(1, awaited);
    expect(echoes.take(1)).to.equal(awaited);
    expect(echoes.take(1)).to.equal(undefined);
  });

  it("remembers a notify delivered without the bus until its echo comes, once", () => {
    const echoes = new Echoes();
    const delivered: number[] = [];
    echoes.deliverHere(7, () => delivered.push(7));
    expect(delivered).to.deep.equal([7]);
    expect(echoes.deliveredHere(7)).to.equal(true);
    expect(echoes.deliveredHere(7)).to.equal(false);
    expect(echoes.deliveredHere(8)).to.equal(false);
  });

  it("delivers the awaited ones older than the echo timeout, or all, in publish order, but never one whose append is on its way", () => {
    const echoes = new Echoes();
    const delivered: string[] = [];
    const now = Date.now();
    echoes.await(1, { here: () => delivered.push("old"), at: now - 10_000 });
    echoes.await(2, { here: () => delivered.push("appending"), at: now, appended: false });
    echoes.await(3, { here: () => delivered.push("recent"), at: now });
    echoes.deliverAwaited(false);
    expect(delivered).to.deep.equal(["old"]);
    echoes.deliverAwaited(true);
    expect(delivered).to.deep.equal(["old", "recent"]);
    expect(echoes.take(2)).to.not.equal(undefined);
  });
});
