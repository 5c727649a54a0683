/**
 * Issue 10: what the per-key history costs in Redis. A hub on the Redis bus
 * notifies `size` (100) notifications of a ~100-byte value on each of 1,000
 * keys; then MEMORY USAGE of real stream and meta keys, and used_memory
 * before and after. The keys are deleted at the end.
 *
 *   npm run bench:history-memory      (needs Redis on 127.0.0.1:6379, or REDIS_URL)
 */
import { createClient } from "redis";
import { defineNotifier } from "../protocol/contract.js";
import { topicOf } from "../protocol/keys.js";
import { createHub } from "../server/index.js";
import { topicChannel } from "../server/messages.js";
import { redisBus } from "../server/redis.js";
import { redisNames } from "../server/redis-history.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const KEYS = Number(process.env.KEYS ?? 1_000);
const SIZE = 100;
const chat = defineNotifier<string, { from: string; text: string; at: number }>("chat");

const prefix = `histmem:${Date.now().toString(36)}:`;
const redis = createClient({ url: REDIS_URL });
await redis.connect();
const usedMemory = async () =>
  Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1] ?? Number.NaN);
const before = await usedMemory();
const hub = createHub({ bus: redisBus({ url: REDIS_URL, prefix }), onError: () => {} });
const n = hub.notifier(chat);
const value = { from: "ann", text: "x".repeat(64), at: 1_733_000_000_000 };
console.log(`value: ${JSON.stringify(value).length} bytes of JSON`);
for (let k = 0; k < KEYS; k += 1) {
  const pending = [];
  for (let i = 0; i < SIZE; i += 1) pending.push(n.notify(`room-${k}`, { ...value, at: i }));
  await Promise.all(pending);
}
const after = await usedMemory();
const names = (k: number) =>
  redisNames(prefix, topicChannel(topicOf("chat", JSON.stringify(`room-${k}`))));
let stream = 0;
let meta = 0;
const sample = Math.min(KEYS, 100);
for (let k = 0; k < sample; k += 1) {
  stream += Number(await redis.memoryUsage(names(k).stream, { SAMPLES: 0 }));
  meta += Number(await redis.memoryUsage(names(k).meta, { SAMPLES: 0 }));
}
const one = names(0);
console.log(`stream entries per key: ${await redis.xLen(one.stream)} (size ${SIZE})`);
console.log(
  `MEMORY USAGE per key (mean of ${sample}): stream ${Math.round(stream / sample)} B, meta ${Math.round(meta / sample)} B`,
);
console.log(`per notification kept: ${Math.round(stream / sample / SIZE)} B`);
console.log(
  `used_memory grew by ${((after - before) / 1024 / 1024).toFixed(1)} MiB for ${KEYS} keys × ${SIZE} (shared Redis: other clients add noise)`,
);
await hub.close();
for (let k = 0; k < KEYS; k += 1) await redis.del([names(k).stream, names(k).meta]);
await redis.quit();
