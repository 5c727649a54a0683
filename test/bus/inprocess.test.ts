import { expect } from "chai";
import { InProcessBroker, inProcessBus } from "../../server/bus.js";
import { busContract } from "./contract.js";
import { startNode } from "./helpers.js";

const broker = new InProcessBroker();
busContract("in-process", () => inProcessBus(broker));

describe("in-process bus", () => {
  it("is local and delivers nothing without a broker", async () => {
    const node = await startNode(inProcessBus());
    expect(node.bus.kind).to.equal("local");
    expect(node.bus.status()).to.equal("local");
    await node.bus.close();
  });

  it("leaves no handler in the broker once every bus closed", () => {
    expect(broker.channels).to.equal(0);
  });
});
