/**
 * The Redis Cluster bus: one node-redis 6 cluster client (`createCluster`)
 * on sharded pub/sub. A channel is `prefix{channel}`, so it lives in one
 * slot: `SPUBLISH` reaches only the shard that owns it (its master and
 * replicas), never the whole cluster as classic `PUBLISH` does. A shard
 * down, a slot moving or a failover is a status and a check, never an
 * exception thrown at the hub.
 */
import type { Bus, BusContext, BusHistoryRead, BusStatus } from "./bus.js";
import {
  type Cluster,
  covered,
  healthy,
  type Listener,
  openCluster,
  type RedisClusterLike,
} from "./cluster-client.js";
import { ShardedSubscriptions } from "./cluster-subscriptions.js";
import { NotifError, toError } from "./errors.js";
import type { Position } from "./positions.js";
import { type HistoryGate, historyCall, RedisHistory, type ScriptRunner } from "./redis-history.js";
import { bounded, closedError, reconnectStrategy, tryingAgain } from "./redis-shared.js";
import { taggedName } from "./slots.js";

/** Options of the cluster bus (`redisBus({ cluster })` or `redisBus({ client: createCluster() })`). */
export interface ClusterBusOptions {
  /** Some nodes of the cluster; the bus discovers the rest. */
  rootNodes?: readonly { readonly url: string }[];
  /** A cluster client whose settings the bus copies with `duplicate()`; never used or closed. */
  client?: RedisClusterLike;
  prefix: string;
  timeout: number;
}

/** Events after which a subscription may have moved or lapsed. */
const TOPOLOGY_EVENTS = ["node-ready", "node-disconnect", "__resubscribeListeners"] as const;
/** Events that change what `status()` says. */
const STATUS_EVENTS = [
  "node-ready",
  "node-connect",
  "node-reconnecting",
  "node-disconnect",
] as const;

/** How long a connect may wait for every master before it starts again from the topology. */
const CONNECT_MS = 3_000;

type Subscription = { readonly channel: string; readonly onMessage: (message: string) => void };

export class ClusterBus implements Bus {
  readonly kind = "shared";
  readonly #prefix: string;
  readonly #timeout: number;
  readonly #cluster: Cluster;
  readonly #wanted = new Map<string, Subscription>();
  readonly #subscriptions: ShardedSubscriptions;
  #context: BusContext | undefined;
  #history: RedisHistory | undefined;
  #status: BusStatus = "degraded";
  #connected = false;
  #outageReported = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;

  constructor(options: ClusterBusOptions) {
    if (/[{}]/.test(options.prefix)) {
      throw new TypeError("sse-notif: a Redis Cluster bus's prefix cannot hold { or }");
    }
    this.#prefix = options.prefix;
    this.#timeout = options.timeout;
    this.#cluster = openCluster(options);
    this.#subscriptions = new ShardedSubscriptions({
      cluster: () => (this.#connected && !this.#closed ? this.#cluster : undefined),
      wants: (name) => this.#wanted.has(name),
      wanted: () => this.#wanted.keys(),
      listener: this.#dispatch,
      timeout: this.#timeout,
      resubscribed: (names) => this.#resubscribed(names),
      moved: () => {},
      onError: (error, context) => this.#report(error, context),
    });
  }

  status(): BusStatus {
    return this.#status;
  }

  async start(context: BusContext): Promise<void> {
    if (this.#context || this.#closed) return;
    this.#context = context;
    const cluster = this.#cluster;
    if (context.history) {
      // routed by the first key (the stream) to the master of the key's slot
      const runner: ScriptRunner = {
        evalSha: (sha, keys, args) =>
          tryingAgain(() => cluster.evalSha(sha, { keys, arguments: args })),
        eval: (script, keys, args) =>
          tryingAgain(() => cluster.eval(script, { keys, arguments: args })),
      };
      this.#history = new RedisHistory(runner, this.#prefix, context.history, "SPUBLISH");
    }
    cluster.on("error", (error) => this.#outage(error, { during: "redis cluster" }));
    cluster.on("node-error", (error, node) => this.#outage(error, { during: "redis node", node }));
    cluster.on("sharded-channel-moved-error", (error, channel) => {
      this.#report(error, { during: "sharded channel moved", channel });
      this.#subscriptions.topologyChanged();
    });
    for (const event of STATUS_EVENTS) cluster.on(event, () => this.#update());
    for (const event of TOPOLOGY_EVENTS) {
      cluster.on(event, () => this.#subscriptions.topologyChanged());
    }
    await this.#connect(0); // connected, or the first error (then retrying in the background)
  }

  async publish(channel: string, message: string): Promise<void> {
    if (this.#closed) throw closedError();
    if (!this.#connected || !this.#cluster.isReady) {
      throw new NotifError(
        "unavailable",
        `Redis Cluster is unreachable: not published on ${channel}`,
      );
    }
    try {
      await bounded(
        this.#cluster.sPublish(this.#name(channel), message),
        this.#timeout,
        "SPUBLISH",
      );
    } catch (error) {
      throw new NotifError("unavailable", `Redis SPUBLISH on ${channel} failed`, { cause: error });
    }
  }

  /** Appends to the channel's history and SPUBLISHes, in one script on the key's shard. */
  append(channel: string, message: string): Promise<Position> {
    return historyCall(this.#gate(), "append", channel, (history) =>
      history.append(channel, message),
    );
  }

  read(channel: string, after?: Position): Promise<BusHistoryRead> {
    return historyCall(this.#gate(), "read", channel, (history) => history.read(channel, after));
  }

  #gate(): HistoryGate {
    const ready = this.#connected && this.#cluster.isReady;
    return { closed: this.#closed, history: this.#history, ready, timeout: this.#timeout };
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
    await this.#subscriptions.changed(name); // recorded: subscribed once its shard is reachable
    if (this.#closed) throw closedError();
    const refused = this.#subscriptions.refused.get(name);
    if (refused && this.#wanted.get(name) === subscription) {
      this.#wanted.delete(name);
      throw new NotifError("unavailable", `Redis refused to subscribe to ${channel}`, {
        cause: refused,
      });
    }
    return unsubscribe;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      clearTimeout(this.#retry);
      this.#subscriptions.close();
      this.#wanted.clear();
      try {
        if (this.#cluster.isOpen) await bounded(this.#cluster.close(), this.#timeout, "QUIT");
      } catch {
        this.#cluster.destroy();
      }
      this.#update();
    })();
    return this.#closing;
  }

  #name(channel: string): string {
    return taggedName(this.#prefix, channel);
  }

  async #unsubscribe(name: string, subscription: Subscription): Promise<void> {
    if (this.#wanted.get(name) !== subscription) return; // stale, or closed
    this.#wanted.delete(name);
    await this.#subscriptions.changed(name);
  }

  readonly #dispatch: Listener = (message, name) => {
    const subscription = this.#wanted.get(name);
    if (!subscription) return;
    if (this.#history?.live(subscription.channel, message) === false) {
      // its history went backwards (a failover lost writes): the hub reads it, which re-epochs it
      this.#context?.onResubscribed?.([subscription.channel]);
      return;
    }
    try {
      subscription.onMessage(message);
    } catch (error) {
      this.#report(error, { during: "bus message handler", channel: subscription.channel });
    }
  };

  /** Connects, retrying with the reconnection backoff until it works or the bus closes. */
  async #connect(attempt: number): Promise<void> {
    if (this.#closed) return;
    try {
      // node-redis waits for every master it was told of, a dead one too (asked mid-failover)
      await bounded(this.#cluster.connect(), CONNECT_MS, "the cluster connect").catch((error) => {
        if (this.#cluster.isOpen) this.#cluster.destroy();
        throw error;
      });
      if (!covered(this.#cluster)) {
        // asked while the cluster was forming, or mid-failover: some slots without a master
        this.#cluster.destroy();
        throw new NotifError("unavailable", "Redis Cluster does not cover every slot yet");
      }
      this.#connected = true;
      this.#update();
      this.#subscriptions.topologyChanged(); // what was wanted meanwhile, and reported as such
    } catch (error) {
      this.#outage(error, { during: "redis cluster connect" });
      if (this.#closed) return;
      this.#retry = setTimeout(() => void this.#connect(attempt + 1), reconnectStrategy(attempt));
    }
  }

  /** Subscriptions that lapsed and are back: messages published meanwhile did not reach us. */
  #resubscribed(names: string[]): void {
    const channels = names.flatMap((name) => this.#wanted.get(name)?.channel ?? []);
    if (channels.length > 0) this.#context?.onResubscribed?.(channels);
  }

  #update(): void {
    const next = !this.#closed && this.#connected && healthy(this.#cluster) ? "ok" : "degraded";
    if (next === this.#status) return;
    this.#status = next;
    if (next === "ok") this.#outageReported = false;
    this.#context?.onStatus(next);
  }

  /** The first error of an outage goes to onError; the rest of it is a status. */
  #outage(error: unknown, context: object): void {
    this.#update();
    if (this.#closed || this.#outageReported) return;
    this.#outageReported = true;
    this.#report(error, context);
  }

  #report(error: unknown, context: object): void {
    this.#context?.onError(toError(error), context);
  }
}
