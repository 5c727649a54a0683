import { redisBus } from "../../server/redis.js";
import { requireRedis } from "../bus/helpers.js";
import { historySuite } from "./history.js";
import { historyNodesSuite } from "./history-nodes.js";

/** A prefix per test run: the shared Redis keeps other runs' histories. */
let prefix = "";
beforeEach(() => {
  prefix = `hist:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`;
});
historySuite("Redis bus", () => redisBus({ prefix }), requireRedis);
historyNodesSuite("Redis bus", () => redisBus({ prefix }), requireRedis);
