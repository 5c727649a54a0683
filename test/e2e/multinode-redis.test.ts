import { redisBus } from "../../server/redis.js";
import { REDIS_URL, requireRedis } from "../bus/helpers.js";
import { multiNodeSuite } from "./multinode.js";

let prefix = "";
beforeEach(() => {
  prefix = `sse-notif-test:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`;
});
multiNodeSuite("Redis bus", () => redisBus({ url: REDIS_URL, prefix }), requireRedis);
