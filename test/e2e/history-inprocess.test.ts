import { InProcessBroker, inProcessBus } from "../../server/bus.js";
import { historySuite } from "./history.js";
import { historyNodesSuite } from "./history-nodes.js";

historySuite("in-process bus, one server", () => inProcessBus());
let broker = new InProcessBroker();
beforeEach(() => {
  broker = new InProcessBroker();
});
historySuite("in-process bus shared by hubs", () => inProcessBus(broker));
historyNodesSuite("in-process bus shared by hubs", () => inProcessBus(broker));
