/**
 * `sse-notif/redis`: `redisBus`, the bus on Redis, and its options. One Redis
 * (redis-bus.ts) or a Redis Cluster on sharded pub/sub (cluster-bus.ts); on
 * either, Redis being down is a status, never an exception thrown at the hub.
 */
import type { Bus } from "./bus.js";
import { ClusterBus } from "./cluster-bus.js";
import type { RedisClusterLike } from "./cluster-client.js";
import { RedisBus, type RedisClientLike } from "./redis-bus.js";

export type { RedisClientLike } from "./redis-bus.js";

/** Options of {@link redisBus}. */
export interface RedisBusOptions {
  /**
   * Where Redis is (`redis[s]://[[user]:password@]host[:port][/db]`); ignored when `client` is given.
   * @default "redis://localhost:6379"
   */
  url?: string;
  /**
   * A node-redis client whose settings the bus copies with `duplicate()`. The bus never
   * connects, uses or closes it: it opens and closes two duplicates of its own, with
   * the bus's reconnection strategy and no offline queue.
   * @default undefined (a client is made from `url`)
   */
  client?: RedisClientLike | RedisClusterLike;
  /**
   * Prepended to every channel and key, to share one Redis between apps; no
   * `{` or `}` (each key's names carry their own hash tag).
   * @default "sse-notif:"
   */
  prefix?: string;
  /**
   * Milliseconds a publish, subscribe or unsubscribe waits for Redis before it gives up.
   * @default 1_000
   */
  timeout?: number;
  /**
   * A Redis Cluster: some of its nodes (the bus discovers the rest). The bus then uses
   * sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`) on its own `createCluster` client: a
   * message reaches only the shard that owns its channel. A `createCluster` client given
   * as `client` does the same (duplicated, never used or closed). Needs node-redis 6.
   * @default undefined (one Redis, at `url`)
   */
  cluster?: { rootNodes: readonly { readonly url: string }[] };
}

/**
 * A bus over Redis pub/sub, for hubs on several servers. Each channel is
 * `prefix` + the hub's channel name.
 *
 * While Redis is unreachable: `status()` is `"degraded"`, the first error of
 * the outage goes to `onError`, `publish` rejects at once (no offline queue),
 * and `subscribe` records the channel and resolves without waiting: every
 * recorded channel is subscribed as soon as Redis is back, so the hub need not
 * retry. `subscribe` rejects only after `close()` or when Redis refuses the
 * command (an ACL, say); the channel is then not recorded.
 *
 * With `cluster` (or a `createCluster` client) the bus runs on sharded pub/sub
 * instead, on every master of the cluster; see {@link ClusterBus}.
 *
 * @example
 * import { redisBus } from "sse-notif/redis";
 * const hub = createHub({ bus: redisBus({ url: process.env.REDIS_URL }) });
 * const onCluster = redisBus({ cluster: { rootNodes: [{ url: "redis://10.0.0.1:7000" }] } });
 */
export function redisBus(options: RedisBusOptions = {}): Bus {
  const prefix = options.prefix ?? "sse-notif:";
  const timeout = options.timeout ?? 1_000;
  const { client, cluster } = options;
  if (cluster && client)
    throw new TypeError("sse-notif: redisBus takes `cluster` or `client`, not both");
  if (cluster) return new ClusterBus({ rootNodes: cluster.rootNodes, prefix, timeout });
  if (client && "masters" in client) {
    return new ClusterBus({ client: client as RedisClusterLike, prefix, timeout });
  }
  if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
    throw new TypeError("sse-notif: redisBus prefix must be a string without { or }");
  }
  return new RedisBus({ ...options, client });
}
