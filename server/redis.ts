/**
 * The Redis bus: one publisher and one subscriber connection (node-redis v5),
 * reconnecting forever with a capped backoff. Redis being down is a status,
 * never an exception thrown at the hub.
 */
import { createClient } from "redis";
import type { Bus, BusContext, BusStatus } from "./bus.js";
import { NotifError, toError } from "./errors.js";

/** The part of a node-redis v5 client (`createClient()`) the bus copies its settings from. */
export interface RedisClientLike {
  duplicate(overrides: { disableOfflineQueue: boolean; socket: object }): unknown;
  readonly options?: { readonly socket?: object } | undefined;
}

/** Options of {@link redisBus}. */
export interface RedisBusOptions {
  /**
   * Where Redis is (`redis[s]://[[user]:password@]host[:port][/db]`); ignored when `client` is given.
   * @default "redis://localhost:6379"
   */
  url?: string;
  /**
   * A node-redis client whose settings the bus copies with `duplicate()`. The bus never
   * connects, uses or closes it: it opens and closes two duplicates of its own.
   * @default undefined (a client is made from `url`)
   */
  client?: RedisClientLike;
  /**
   * Prepended to every channel, to share one Redis between apps.
   * @default "sse-notif:"
   */
  prefix?: string;
  /**
   * Milliseconds a publish, subscribe or unsubscribe waits for Redis before it gives up.
   * @default 1_000
   */
  timeout?: number;
  /**
   * Longest wait between two reconnection attempts, in milliseconds.
   * @default 2_000
   */
  maxReconnectDelay?: number;
}

type Listener = (message: string, channel: string) => void;

/** What the bus uses of a node-redis connection. */
interface Connection {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  on(event: "ready" | "end" | "reconnecting", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  connect(): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
  publish(channel: string, message: string): Promise<number>;
  subscribe(channel: string, listener: Listener): Promise<void>;
  unsubscribe(channels: string | string[], listener?: Listener): Promise<void>;
  getPubSubListeners(type: "CHANNELS"): ReadonlyMap<string, unknown>;
}

interface Subscription {
  readonly onMessage: (message: string) => void;
}

/** Settles like `promise`, or rejects with a `timeout` error after `ms`. */
function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new NotifError("timeout", `Redis did not answer ${what} within ${ms} ms`)),
      ms,
    );
  });
  promise.catch(() => {}); // a late rejection after the timeout is not unhandled
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A bus over Redis pub/sub, for hubs on several servers. Each channel is
 * `prefix` + the hub's channel name.
 *
 * While Redis is unreachable: `status()` is `"degraded"`, the first error of
 * the outage goes to `onError`, `publish` rejects at once (no offline queue),
 * and `subscribe` records the channel and resolves without waiting: every
 * recorded channel is subscribed again as soon as Redis is back, so the hub
 * need not retry. `subscribe` rejects only after `close()` or when Redis
 * refuses the command (an ACL, say); the channel is then not recorded.
 *
 * Redis Cluster is not supported yet: pass a standalone (or Sentinel-fronted)
 * Redis. Classic pub/sub does work on a cluster, broadcast to every node.
 *
 * @example
 * import { redisBus } from "sse-notif/redis";
 * const hub = createHub({ bus: redisBus({ url: process.env.REDIS_URL }) });
 */
export function redisBus(options: RedisBusOptions = {}): Bus {
  const prefix = options.prefix ?? "sse-notif:";
  const timeout = options.timeout ?? 1_000;
  const maxDelay = options.maxReconnectDelay ?? 2_000;
  const reconnectStrategy = (retries: number) =>
    Math.min(50 * 2 ** Math.min(retries, 16), maxDelay) + Math.floor(Math.random() * 50);
  const open = (): Connection => {
    // fresh objects each time: node-redis merges the URL into `socket` in place
    const settings = {
      disableOfflineQueue: true,
      socket: { ...options.client?.options?.socket, reconnectStrategy },
    };
    const { client, url } = options;
    return (client ? client.duplicate(settings) : createClient({ ...settings, url })) as Connection;
  };
  const pub = open();
  const sub = open();
  const wanted = new Map<string, Subscription>();
  let context: BusContext | undefined;
  let status: BusStatus = "degraded";
  let outageReported = false;
  let closed = false;
  let closing: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  const report = (error: Error, details: object) => context?.onError(error, details);

  const closedError = () => new NotifError("unavailable", "the Redis bus is closed");

  function update(): void {
    const next: BusStatus = !closed && pub.isReady && sub.isReady ? "ok" : "degraded";
    if (next === "ok") wake?.();
    if (next === status) return;
    status = next;
    if (next === "ok") outageReported = false;
    context?.onStatus(next);
  }

  function onConnectionError(connection: string) {
    return (error: Error) => {
      update();
      wake?.();
      if (closed || outageReported) return;
      if (status === "degraded") outageReported = true;
      report(error, { during: "redis connection", connection });
    };
  }

  const dispatch: Listener = (message, channel) => {
    const subscription = wanted.get(channel);
    if (!subscription) return;
    try {
      subscription.onMessage(message);
    } catch (error) {
      report(toError(error), { during: "bus message handler", channel });
    }
  };

  /** Brings Redis in line with `wanted` after a (re)connection; node-redis resubscribed what it knew. */
  function reconcile(): void {
    const background = (promise: Promise<void>, channel: string) =>
      promise.catch((error) => {
        if (sub.isReady) report(toError(error), { during: "resubscribe", channel });
      });
    for (const channel of wanted.keys()) background(sub.subscribe(channel, dispatch), channel);
    for (const channel of [...sub.getPubSubListeners("CHANNELS").keys()]) {
      if (!wanted.has(channel)) background(sub.unsubscribe(channel, dispatch), channel);
    }
  }

  function watch(connection: Connection, name: string): void {
    connection.on("error", onConnectionError(name));
    connection.on("ready", update);
    connection.on("end", update);
    connection.on("reconnecting", update);
  }

  async function shut(connection: Connection, channels: string[]): Promise<void> {
    if (!connection.isOpen) return;
    try {
      if (!connection.isReady) throw closedError();
      if (channels.length > 0)
        await bounded(connection.unsubscribe(channels), timeout, "UNSUBSCRIBE");
      await bounded(connection.close(), timeout, "QUIT");
    } catch {
      if (connection.isOpen) connection.destroy();
    }
  }

  return {
    kind: "shared",
    status: () => status,

    async start(busContext) {
      if (context || closed) return;
      context = busContext;
      watch(pub, "publisher");
      watch(sub, "subscriber");
      sub.on("ready", reconcile);
      const settled = new Promise<void>((resolve) => {
        wake = resolve;
      });
      for (const connection of [pub, sub]) {
        connection.connect().catch((error) => report(toError(error), { during: "redis connect" }));
      }
      await settled; // both ready, or the first error (then reconnecting in the background)
      wake = undefined;
    },

    async publish(channel, message) {
      if (closed) throw closedError();
      if (!pub.isReady) {
        throw new NotifError("unavailable", `Redis is unreachable: not published on ${channel}`);
      }
      try {
        await bounded(pub.publish(prefix + channel, message), timeout, "PUBLISH");
      } catch (error) {
        throw new NotifError("unavailable", `Redis publish on ${channel} failed`, { cause: error });
      }
    },

    async subscribe(channel, onMessage) {
      if (closed) throw closedError();
      const name = prefix + channel;
      const subscription: Subscription = { onMessage };
      wanted.set(name, subscription);
      const unsubscribe = async () => {
        if (wanted.get(name) !== subscription) return;
        wanted.delete(name);
        if (!sub.isReady || closed) return; // reconcile() drops it at reconnection
        await bounded(sub.unsubscribe(name, dispatch), timeout, "UNSUBSCRIBE").catch(() => {});
      };
      if (!sub.isReady) return unsubscribe; // recorded: reconcile() subscribes it
      try {
        await bounded(sub.subscribe(name, dispatch), timeout, "SUBSCRIBE");
      } catch (error) {
        if (closed) throw closedError();
        if (!sub.isReady || error instanceof NotifError) return unsubscribe; // lost the connection
        if (wanted.get(name) === subscription) wanted.delete(name);
        throw new NotifError("unavailable", `Redis refused to subscribe to ${channel}`, {
          cause: error,
        });
      }
      return unsubscribe;
    },

    close() {
      closing ??= (async () => {
        closed = true;
        wake?.();
        const channels = [
          ...new Set([...wanted.keys(), ...sub.getPubSubListeners("CHANNELS").keys()]),
        ];
        wanted.clear();
        await Promise.all([shut(pub, []), shut(sub, channels)]);
        update();
      })();
      return closing;
    },
  };
}
