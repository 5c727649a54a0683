/**
 * Sharded subscriptions on a Redis Cluster, kept in step with what the hub
 * wants. node-redis 6 routes `SSUBSCRIBE` by its first channel and moves
 * subscriptions itself when a slot moves or a shard fails over; this class
 * batches the hub's changes per slot, checks after every topology change
 * that each wanted channel is subscribed on the master that owns its slot
 * (subscribing it there, and dropping it anywhere else), and then names the
 * channels that may have missed messages meanwhile, once their subscription
 * is known to be in effect on the owner. A channel held all along by its
 * owner's connection, which never dropped since, missed nothing and is not
 * named (a master's first pub/sub connection also fires `node-ready`).
 */
import { ErrorReply } from "redis";
import type { Listener, PubSubClient, ShardedCluster } from "./cluster-client.js";
import { HeldSubscriptions } from "./cluster-held.js";
import { toError } from "./errors.js";
import { bounded } from "./redis-shared.js";
import { slotOf } from "./slots.js";

export interface SubscriptionsHost {
  /** The cluster client once connected, else undefined. */
  cluster(): ShardedCluster | undefined;
  /** Is this (prefixed) channel wanted? */
  wants(name: string): boolean;
  /** Every wanted (prefixed) channel. */
  wanted(): Iterable<string>;
  readonly listener: Listener;
  readonly timeout: number;
  /** These wanted channels may have missed messages; their subscription is in effect now. */
  resubscribed(names: string[]): void;
  /** A slot moved under a subscription (a hint: a check follows). */
  moved(name: string): void;
  onError(error: Error, context: object): void;
}

/** How long topology events are gathered before the check runs (node-redis moves listeners meanwhile). */
const SETTLE_MS = 50;
/** While a check could not finish (a shard down), it is tried again this often. */
const RETRY_MS = 250;

export class ShardedSubscriptions {
  readonly #host: SubscriptionsHost;
  /** Channels whose wanted state changed since the last pass. */
  readonly #dirty = new Set<string>();
  /** Channels to report as resubscribed once in effect; `all` after a topology change. */
  #suspect: Set<string> | "all" = new Set();
  /** Channels Redis refused to subscribe (not a lost connection), by the last pass. */
  readonly refused = new Map<string, Error>();
  /** Where each channel's subscription is in effect (cluster-held.ts). */
  readonly #held: HeldSubscriptions;
  /** Wanted channels whose first subscribe has not resolved yet: they cannot have missed anything. */
  readonly #fresh = new Set<string>();
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(host: SubscriptionsHost) {
    this.#host = host;
    this.#held = new HeldSubscriptions(host.listener, (name) => {
      host.moved(name);
      this.topologyChanged();
    });
  }

  /** Brings Redis in step with a changed channel; resolves once a pass that saw it ended. */
  changed(name: string): Promise<void> {
    this.#dirty.add(name);
    if (this.#host.wants(name) && !this.#held.has(name)) this.#fresh.add(name);
    else this.#fresh.delete(name);
    return this.#pass();
  }

  /** After a topology change or reconnection: check every channel, then report them. */
  topologyChanged(): void {
    this.#suspect = "all";
    this.#schedule(SETTLE_MS);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#pass();
    }, ms);
  }

  /** Runs a pass now, or right after the running one (passes never overlap). */
  #pass(): Promise<void> {
    if (!this.#running) {
      this.#running = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
        this.#run().finally(() => {
          this.#running = undefined;
        }),
      );
      return this.#running;
    }
    this.#next ??= this.#running.then(() => {
      this.#next = undefined;
      return this.#pass();
    });
    return this.#next;
  }

  async #run(): Promise<void> {
    const cluster = this.#host.cluster();
    if (this.#closed || !cluster?.isReady) {
      this.#fresh.clear(); // their subscribe resolves now, not in effect: a later pass reports them
      return; // a reconnection brings a full pass
    }
    const suspect = this.#suspect;
    const names = suspect === "all" ? this.#everything(cluster) : new Set(this.#dirty);
    this.#dirty.clear();
    this.#held.hook(cluster);
    const suspects = suspect === "all" ? this.#held.lapsed(cluster, names, this.#fresh) : suspect;
    this.#suspect = new Set();
    const pending = await Promise.all([
      this.#drop(cluster, names),
      this.#subscribe(
        cluster,
        [...names].filter((name) => this.#host.wants(name)),
        suspect === "all",
      ),
    ]);
    for (const name of pending.flat()) this.#dirty.add(name);
    await this.#confirm(cluster, suspects);
    for (const name of names) {
      this.#fresh.delete(name);
      if (!this.#host.wants(name)) this.#held.delete(name);
    }
    if (this.#unfinished()) this.#schedule(RETRY_MS);
  }

  /** Channels still to bring in step or to confirm (a shard was down, say). */
  #unfinished(): boolean {
    const suspect = this.#suspect;
    return this.#dirty.size > 0 || suspect === "all" || suspect.size > 0;
  }

  /** Wanted channels and every channel any master's client holds. */
  #everything(cluster: ShardedCluster): Set<string> {
    const names = new Set(this.#host.wanted());
    for (const master of cluster.masters) {
      for (const name of master.pubSub?.client.getPubSubListeners("SHARDED").keys() ?? []) {
        names.add(name);
      }
    }
    return names;
  }

  /** Unsubscribes, per client and slot, what is not wanted or not on its slot's owner. */
  async #drop(cluster: ShardedCluster, names: Set<string>): Promise<string[]> {
    const batches = new Map<PubSubClient, Map<number, string[]>>();
    for (const master of cluster.masters) {
      const client = master.pubSub?.client;
      if (!client) continue;
      for (const name of names) {
        if (!this.#held.holds(client, name)) continue;
        if (this.#host.wants(name) && this.#held.owner(cluster, name) === client) continue;
        push(batches, client, name);
      }
    }
    const failed: string[] = [];
    const calls = [...batches].flatMap(([client, bySlot]) =>
      [...bySlot.values()].map((batch) =>
        bounded(
          client.sUnsubscribe(batch, this.#host.listener),
          this.#host.timeout,
          "SUNSUBSCRIBE",
        ).then(
          () => {
            for (const name of batch) if (!this.#host.wants(name)) this.#held.delete(name);
          },
          () => failed.push(...batch), // its client is down: tried again later
        ),
      ),
    );
    await Promise.all(calls);
    return failed;
  }

  /** Subscribes the wanted channels their slot's owner does not hold, one SSUBSCRIBE per slot. */
  async #subscribe(
    cluster: ShardedCluster,
    names: string[],
    background: boolean,
  ): Promise<string[]> {
    const bySlot = new Map<number, string[]>();
    for (const name of names) {
      this.refused.delete(name);
      if (this.#held.holds(this.#held.owner(cluster, name), name)) continue;
      const slot = slotOf(name);
      bySlot.set(slot, [...(bySlot.get(slot) ?? []), name]);
    }
    const failed: string[] = [];
    const calls = [...bySlot.values()].map(async (batch) => {
      try {
        await bounded(
          cluster.sSubscribe(batch, this.#host.listener),
          this.#host.timeout,
          "SSUBSCRIBE",
        );
        this.#held.hook(cluster); // a master's pub/sub client made by this SSUBSCRIBE: its drops count now
        for (const name of batch) this.#held.inEffect(cluster, name);
      } catch (error) {
        if (isRefusal(error)) {
          // not retried: subscribe() rejects with it; a resubscribe after an outage reports it
          for (const name of batch) this.refused.set(name, toError(error));
          if (background) this.#host.onError(toError(error), { during: "resubscribe", batch });
          return;
        }
        failed.push(...batch); // a shard down or slow: tried again, then reported
        for (const name of batch) this.#addSuspect(name);
      }
    });
    await Promise.all(calls);
    return failed;
  }

  #addSuspect(name: string): void {
    if (this.#suspect !== "all") this.#suspect.add(name);
  }

  /**
   * Reports suspect channels once their owner's client answered a PING: its
   * replies come in order, so every SSUBSCRIBE sent before it is in effect.
   */
  async #confirm(cluster: ShardedCluster, suspects: Set<string>): Promise<void> {
    const byClient = new Map<PubSubClient, string[]>();
    for (const name of suspects) {
      if (!this.#host.wants(name)) continue;
      const owner = this.#held.owner(cluster, name);
      if (!owner?.isReady || !this.#held.holds(owner, name)) {
        this.#addSuspect(name); // not in effect yet: the next pass reports it
        continue;
      }
      byClient.set(owner, [...(byClient.get(owner) ?? []), name]);
    }
    const confirmed: string[] = [];
    await Promise.all(
      [...byClient].map(([client, batch]) =>
        bounded(client.ping(), this.#host.timeout, "PING").then(
          () => {
            confirmed.push(...batch);
            for (const name of batch) this.#held.inEffect(cluster, name);
          },
          () => {
            for (const name of batch) this.#addSuspect(name);
          },
        ),
      ),
    );
    if (confirmed.length === 0) return;
    try {
      this.#host.resubscribed(confirmed);
    } catch (error) {
      this.#host.onError(toError(error), { during: "resubscribed" });
    }
  }
}

function push(
  batches: Map<PubSubClient, Map<number, string[]>>,
  client: PubSubClient,
  name: string,
) {
  let bySlot = batches.get(client);
  if (!bySlot) {
    bySlot = new Map();
    batches.set(client, bySlot);
  }
  const slot = slotOf(name);
  bySlot.set(slot, [...(bySlot.get(slot) ?? []), name]);
}

/** An answer from Redis that is not about routing (an ACL refusal, say): retrying will not help. */
function isRefusal(error: unknown): boolean {
  if (!(error instanceof ErrorReply)) return false;
  return !/^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING)\b/.test(error.message);
}
