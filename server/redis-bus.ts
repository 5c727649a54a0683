/**
 * The bus on one Redis: one publisher and one subscriber connection
 * (node-redis 6), reconnecting forever with a capped backoff. The channels the
 * hub wants are the truth Redis is brought back to after an outage; Redis
 * being down is a status, never an exception thrown at the hub.
 */
import { createClient, type RedisClientType } from "redis";
import type { Bus, BusContext, BusHistoryRead, BusStatus } from "./bus.js";
import { NotifError, toError } from "./errors.js";
import type { Position } from "./positions.js";
import {
  type HistoryGate,
  historyCall,
  RedisHistory,
  redisNames,
  type ScriptRunner,
} from "./redis-history.js";
import { bounded, closedError, reconnectStrategy } from "./redis-shared.js";

/** The part of a node-redis 6 client (`createClient()`) the bus copies its settings from. */
export interface RedisClientLike {
  duplicate(overrides: { disableOfflineQueue: boolean; socket: object }): unknown;
  readonly options?: { readonly socket?: object } | undefined;
}

type Listener = (message: string, channel: string) => void;

/** A connection of the bus's own: a plain node-redis client whatever the user's modules. */
type Connection = RedisClientType;

/** One subscribe call: its identity tells a stale unsubscribe from a current one. */
type Subscription = { readonly channel: string; readonly onMessage: (message: string) => void };

/** The options of a bus on one Redis: `redisBus`'s (see `RedisBusOptions`), without `cluster`. */
export interface SingleRedisOptions {
  readonly url?: string | undefined;
  readonly client?: RedisClientLike | undefined;
  readonly prefix?: string | undefined;
  readonly timeout?: number | undefined;
}

/** The bus on one Redis (`redisBus` without `cluster`); see `redisBus` for its behaviour. */
export class RedisBus implements Bus {
  readonly kind = "shared";
  readonly #prefix: string;
  readonly #timeout: number;
  readonly #pub: Connection;
  readonly #sub: Connection;
  /** Channels (prefixed) the hub wants: the truth that Redis is brought back to after outages. */
  readonly #wanted = new Map<string, Subscription>();
  #context: BusContext | undefined;
  #history: RedisHistory | undefined;
  #status: BusStatus = "degraded";
  #outageReported = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Ends `start()` once both connections are ready or the first error came. */
  #wake: (() => void) | undefined;

  constructor(options: SingleRedisOptions) {
    this.#prefix = options.prefix ?? "sse-notif:";
    this.#timeout = options.timeout ?? 1_000;
    const open = (): Connection => {
      // fresh objects each time: node-redis merges the URL into `socket` in place
      const settings = {
        disableOfflineQueue: true,
        socket: { ...options.client?.options?.socket, reconnectStrategy },
      };
      const { client, url } = options;
      const made = client ? client.duplicate(settings) : createClient({ ...settings, url });
      return made as Connection;
    };
    this.#pub = open();
    this.#sub = open();
  }

  status(): BusStatus {
    return this.#status;
  }

  async start(context: BusContext): Promise<void> {
    if (this.#context || this.#closed) return;
    this.#context = context;
    if (context.history) {
      const pub = this.#pub;
      const runner: ScriptRunner = {
        evalSha: (sha, keys, args) => pub.evalSha(sha, { keys, arguments: args }),
        eval: (script, keys, args) => pub.eval(script, { keys, arguments: args }),
      };
      this.#history = new RedisHistory(runner, this.#prefix, context.history);
    }
    this.#watch(this.#pub, "publisher");
    this.#watch(this.#sub, "subscriber");
    this.#sub.on("ready", () => this.#reconcile());
    const settled = new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
    for (const connection of [this.#pub, this.#sub]) {
      connection.connect().catch((error) => this.#report(error, { during: "redis connect" }));
    }
    await settled; // both ready, or the first error (then reconnecting in the background)
    this.#wake = undefined;
  }

  async publish(channel: string, message: string): Promise<void> {
    if (this.#closed) throw closedError();
    if (!this.#pub.isReady) {
      throw new NotifError("unavailable", `Redis is unreachable: not published on ${channel}`);
    }
    try {
      await bounded(this.#pub.publish(this.#name(channel), message), this.#timeout, "PUBLISH");
    } catch (error) {
      throw new NotifError("unavailable", `Redis publish on ${channel} failed`, { cause: error });
    }
  }

  /** Appends to the channel's history and publishes, in one script (redis-history.ts). */
  append(channel: string, message: string): Promise<Position> {
    return historyCall(this.#gate(), "append", channel, (history) =>
      history.append(channel, message),
    );
  }

  read(channel: string, after?: Position): Promise<BusHistoryRead> {
    return historyCall(this.#gate(), "read", channel, (history) => history.read(channel, after));
  }

  #gate(): HistoryGate {
    const ready = this.#pub.isReady;
    return { closed: this.#closed, history: this.#history, ready, timeout: this.#timeout };
  }

  /** The Redis channel of a hub channel. */
  #name(channel: string): string {
    return redisNames(this.#prefix, channel).channel;
  }

  async subscribe(
    channel: string,
    onMessage: (message: string) => void,
  ): Promise<() => Promise<void>> {
    if (this.#closed) throw closedError();
    const name = this.#name(channel);
    const subscription: Subscription = { channel, onMessage };
    this.#wanted.set(name, subscription);
    const unsubscribe = () => this.#unsubscribe(name, subscription);
    if (!this.#sub.isReady) return unsubscribe; // recorded: #reconcile() subscribes it
    try {
      await bounded(this.#sub.subscribe(name, this.#dispatch), this.#timeout, "SUBSCRIBE");
    } catch (error) {
      if (this.#closed) throw closedError();
      // lost the connection or no answer in time: still recorded, #reconcile() will see to it
      if (!this.#sub.isReady || error instanceof NotifError) return unsubscribe;
      if (this.#wanted.get(name) === subscription) this.#wanted.delete(name);
      throw new NotifError("unavailable", `Redis refused to subscribe to ${channel}`, {
        cause: error,
      });
    }
    return unsubscribe;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      this.#wake?.();
      const known = this.#sub.getPubSubListeners("CHANNELS").keys();
      const channels = [...new Set([...this.#wanted.keys(), ...known])];
      this.#wanted.clear();
      await Promise.all([this.#shut(this.#pub, []), this.#shut(this.#sub, channels)]);
      this.#update();
    })();
    return this.#closing;
  }

  async #unsubscribe(name: string, subscription: Subscription): Promise<void> {
    if (this.#wanted.get(name) !== subscription) return; // stale, or closed
    this.#wanted.delete(name);
    if (!this.#sub.isReady) return; // #reconcile() drops it at reconnection
    await bounded(this.#sub.unsubscribe(name, this.#dispatch), this.#timeout, "UNSUBSCRIBE").catch(
      () => {}, // #dispatch already ignores the channel; #reconcile() retries after an outage
    );
  }

  readonly #dispatch: Listener = (message, channel) => {
    const subscription = this.#wanted.get(channel);
    if (!subscription) return;
    if (this.#history?.live(subscription.channel, message) === false) {
      // its history went backwards (a failover lost writes): the hub reads it, which re-epochs it
      this.#context?.onResubscribed?.([subscription.channel]);
      return;
    }
    try {
      subscription.onMessage(message);
    } catch (error) {
      this.#report(error, { during: "bus message handler", channel });
    }
  };

  /**
   * After a (re)connection: node-redis resubscribed what it knew; this adds
   * and drops the rest, then tells the hub which channels are subscribed
   * again (what was published on them meanwhile was missed: the hub reads it
   * from the history).
   */
  #reconcile(): void {
    const sub = this.#sub;
    const background = (promise: Promise<void>, channel: string) =>
      promise.then(
        () => true,
        (error) => {
          if (sub.isReady) this.#report(error, { during: "resubscribe", channel });
          return false;
        },
      );
    const again = [...this.#wanted].map(async ([name, { channel }]) =>
      (await background(sub.subscribe(name, this.#dispatch), name)) ? [channel] : [],
    );
    void Promise.all(again).then((channels) => {
      if (!this.#closed && channels.length > 0) this.#context?.onResubscribed?.(channels.flat());
    });
    for (const channel of [...sub.getPubSubListeners("CHANNELS").keys()]) {
      if (!this.#wanted.has(channel))
        void background(sub.unsubscribe(channel, this.#dispatch), channel);
    }
  }

  #watch(connection: Connection, name: string): void {
    const update = () => this.#update();
    connection.on("ready", update);
    connection.on("end", update);
    connection.on("reconnecting", update);
    // without an 'error' listener node-redis errors would crash the process
    connection.on("error", (error) => {
      this.#update();
      this.#wake?.();
      if (this.#closed || this.#outageReported) return;
      if (this.#status === "degraded") this.#outageReported = true; // one report per outage
      this.#report(error, { during: "redis connection", connection: name });
    });
  }

  #update(): void {
    const next = !this.#closed && this.#pub.isReady && this.#sub.isReady ? "ok" : "degraded";
    if (next === "ok") this.#wake?.();
    if (next === this.#status) return;
    this.#status = next;
    if (next === "ok") this.#outageReported = false;
    this.#context?.onStatus(next);
  }

  #report(error: unknown, context: object): void {
    this.#context?.onError(toError(error), context);
  }

  async #shut(connection: Connection, channels: string[]): Promise<void> {
    if (!connection.isOpen) return;
    try {
      if (!connection.isReady) throw closedError();
      if (channels.length > 0) {
        await bounded(connection.unsubscribe(channels), this.#timeout, "UNSUBSCRIBE");
      }
      await bounded(connection.close(), this.#timeout, "QUIT");
    } catch {
      if (connection.isOpen) connection.destroy();
    }
  }
}
