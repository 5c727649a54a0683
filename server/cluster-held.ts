/**
 * Where each sharded subscription is known to be in effect: on which
 * master's pub/sub client, at how many of that client's connection drops. A
 * channel whose slot's owner is still that client, and which has not dropped
 * since, missed nothing; any other may have (a moved slot, a failover, a
 * reconnect). Reads the cluster client's state; sends no command.
 */
import type { Listener, PubSubClient, ShardedCluster } from "./cluster-client.js";
import { slotOf } from "./slots.js";

/** Where a channel's subscription was known in effect: a client, at its connection count. */
interface Held {
  readonly client: PubSubClient;
  readonly drops: number;
}

/** The sharded clients' drops, and where each channel was last seen subscribed. */
export class HeldSubscriptions {
  readonly #listener: Listener;
  readonly #moved: (name: string) => void;
  readonly #held = new Map<string, Held>();
  readonly #hooked = new WeakSet<PubSubClient>();
  /** Connection drops per client: a subscription held across one may have missed messages. */
  readonly #drops = new WeakMap<PubSubClient, number>();

  /** `listener`: the bus's own, on every subscription; `moved`: a slot moved under a channel. */
  constructor(listener: Listener, moved: (name: string) => void) {
    this.#listener = listener;
    this.#moved = moved;
  }

  /** Was `name` seen in effect (and not let go since)? */
  has(name: string): boolean {
    return this.#held.has(name);
  }

  /** `name` is no longer wanted: where it was held no longer matters. */
  delete(name: string): void {
    this.#held.delete(name);
  }

  /** Watches every sharded client for drops, and for slots moving under it (node-redis moves the listener). */
  hook(cluster: ShardedCluster): void {
    for (const master of cluster.masters) {
      const client = master.pubSub?.client;
      if (!client || this.#hooked.has(client)) continue;
      this.#hooked.add(client);
      const dropped = () => this.#drops.set(client, this.#dropsOf(client) + 1);
      for (const event of ["error", "reconnecting", "end"] as const) client.on(event, dropped);
      client.on("sharded-channel-moved", (name) => this.#moved(name));
    }
  }

  /** The client of the master that owns a channel's slot, if it has one. */
  owner(cluster: ShardedCluster, name: string): PubSubClient | undefined {
    return cluster.slots[slotOf(name)]?.master.pubSub?.client;
  }

  /** Does `client` hold the bus's subscription to `name`? */
  holds(client: PubSubClient | undefined, name: string): boolean {
    return client?.getPubSubListeners("SHARDED").get(name)?.strings.has(this.#listener) ?? false;
  }

  /** Records that `name`'s subscription is in effect on its owner now. */
  inEffect(cluster: ShardedCluster, name: string): void {
    const owner = this.owner(cluster, name);
    if (owner && this.holds(owner, name)) {
      this.#held.set(name, { client: owner, drops: this.#dropsOf(owner) });
    } else this.#held.delete(name);
  }

  /** The channels of `names` (but `fresh` ones) not held all along by their owner's connection. */
  lapsed(cluster: ShardedCluster, names: Set<string>, fresh: Set<string>): Set<string> {
    const lapsed = new Set<string>();
    for (const name of names) {
      if (fresh.has(name)) continue;
      const held = this.#held.get(name);
      const owner = this.owner(cluster, name);
      const steady =
        held !== undefined && held.client === owner && held.drops === this.#dropsOf(owner);
      if (!steady || !this.holds(owner, name)) lapsed.add(name);
    }
    return lapsed;
  }

  #dropsOf(client: PubSubClient | undefined): number {
    return client ? (this.#drops.get(client) ?? 0) : -1;
  }
}
