/**
 * The Redis Cluster bus's own cluster client (node-redis 6 `createCluster`):
 * the parts of it the bus uses, how it is made (from root nodes, or
 * duplicated from the user's client, with the bus's reconnection, no offline
 * queue and a quick topology refresh), and the checks of its state the bus's
 * status rests on (every slot covered, every master answering).
 */
import { createCluster, type RedisClusterOptions } from "redis";
import { reconnectStrategy } from "./redis-shared.js";
import { SLOTS } from "./slots.js";

/** The bus's listener on every sharded subscription. */
export type Listener = (message: string, channel: string) => void;

/** The part of a node-redis sharded pub/sub client (one per master) the bus uses. */
export interface PubSubClient {
  readonly isReady: boolean;
  getPubSubListeners(type: "SHARDED"): Map<string, { readonly strings: Set<unknown> }>;
  sUnsubscribe(channels: string[], listener: Listener): Promise<unknown>;
  ping(): Promise<unknown>;
  on(event: "sharded-channel-moved", listener: (channel: string) => void): unknown;
  on(event: "error" | "reconnecting" | "end", listener: () => void): unknown;
}

/** The part of a node-redis `createCluster()` client the subscriptions use. */
export interface ShardedCluster {
  readonly isReady: boolean;
  readonly masters: readonly { readonly pubSub?: { readonly client: PubSubClient } }[];
  readonly slots: readonly (
    | { readonly master: { readonly pubSub?: { client: PubSubClient } } }
    | undefined
  )[];
  sSubscribe(channels: string[], listener: Listener): Promise<unknown>;
}

/** The part of a node-redis `createCluster()` client the bus copies its settings from. */
export interface RedisClusterLike {
  duplicate(overrides: object): unknown;
  readonly masters: unknown;
  readonly _options?:
    | {
        readonly defaults?: { readonly socket?: object };
        readonly topologyRefreshOnReconnectionAttemptStrategy?: unknown;
      }
    | undefined;
}

/** The bus's own cluster connection, as far as the bus uses it. */
export interface Cluster extends ShardedCluster {
  readonly isOpen: boolean;
  readonly masters: readonly {
    readonly client?: { readonly isReady: boolean };
    readonly connectPromise?: unknown;
    readonly pubSub?: { readonly client: PubSubClient; readonly connectPromise?: unknown };
  }[];
  connect(): Promise<unknown>;
  sPublish(channel: string, message: string): Promise<unknown>;
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** How soon node-redis refreshes the topology once a node stops answering (its default is 5 s). */
const TOPOLOGY_REFRESH_MS = 1_000;

/** Every slot has a master in the client's map. */
export function covered(cluster: Cluster): boolean {
  if (cluster.slots.length !== SLOTS) return false;
  for (let slot = 0; slot < SLOTS; slot += 1) if (!cluster.slots[slot]) return false;
  return true;
}

/** Every master answers, on its command connection and on its sharded pub/sub one. */
export function healthy(cluster: Cluster): boolean {
  if (!cluster.isReady) return false;
  return cluster.masters.every((master) => up(master) && (!master.pubSub || up(master.pubSub)));
}

/** A connection still making its first connect is not down; one that was ready and is not, is. */
function up(node: { readonly client?: { readonly isReady: boolean }; connectPromise?: unknown }) {
  return node.connectPromise !== undefined || node.client?.isReady !== false;
}

/** Opens (without connecting) the bus's cluster client from `rootNodes` or a copy of `client`. */
export function openCluster(options: {
  readonly rootNodes?: readonly { readonly url: string }[] | undefined;
  readonly client?: RedisClusterLike | undefined;
}): Cluster {
  const { client, rootNodes } = options;
  if (!client && (!rootNodes || rootNodes.length === 0)) {
    throw new TypeError("sse-notif: redisBus({ cluster }) needs at least one root node");
  }
  const defaults = client ? client._options?.defaults : fromUrl(rootNodes?.[0]?.url);
  const refresh = client?._options?.topologyRefreshOnReconnectionAttemptStrategy;
  const overrides = {
    defaults: {
      ...defaults,
      disableOfflineQueue: true,
      socket: { ...defaults?.socket, reconnectStrategy },
    },
    topologyRefreshOnReconnectionAttemptStrategy: refresh ?? TOPOLOGY_REFRESH_MS,
  };
  if (client) return client.duplicate(overrides) as Cluster;
  const settings = { rootNodes: rootNodes?.map(({ url }) => ({ url })), ...overrides };
  return createCluster(settings as unknown as RedisClusterOptions) as unknown as Cluster;
}

/**
 * What every node connection takes from the first root node's URL: its user,
 * password and TLS (node-redis applies a root node's URL to discovery only).
 */
function fromUrl(url: string | undefined): {
  socket?: object;
  username?: string;
  password?: string;
} {
  let parsed: URL;
  try {
    parsed = new URL(url ?? "");
  } catch {
    throw new TypeError(`sse-notif: ${JSON.stringify(url)} is not a redis:// or rediss:// URL`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new TypeError(`sse-notif: ${JSON.stringify(url)} is not a redis:// or rediss:// URL`);
  }
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === "rediss:" ? { socket: { tls: true } } : {}),
  };
}
