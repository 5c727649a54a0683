import { InProcessBroker, inProcessBus } from "../../server/bus.js";
import { multiNodeSuite } from "./multinode.js";

let broker = new InProcessBroker();
beforeEach(() => {
  broker = new InProcessBroker();
});
multiNodeSuite("in-process bus", () => inProcessBus(broker));
