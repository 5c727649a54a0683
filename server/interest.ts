/**
 * Bus subscriptions that follow local interest: a node is subscribed to a
 * topic's channel exactly while one of its sessions listens to that topic.
 * Subscribe and unsubscribe calls for one topic never overlap out of order.
 */
import type { Topic } from "../protocol/keys.js";
import type { Bus } from "./bus.js";
import { toError } from "./errors.js";

interface Entry {
  wanted: boolean;
  /** Settles when the last subscribe/unsubscribe for this topic has. */
  settled: Promise<void>;
  unsubscribe: (() => Promise<void>) | undefined;
}

export class Interest {
  readonly #bus: Bus;
  readonly #channel: (topic: Topic) => string;
  readonly #onMessage: (message: string) => void;
  readonly #onError: (error: Error, context: object) => void;
  readonly #entries = new Map<Topic, Entry>();

  constructor(
    bus: Bus,
    channel: (topic: Topic) => string,
    onMessage: (message: string) => void,
    onError: (error: Error, context: object) => void,
  ) {
    this.#bus = bus;
    this.#channel = channel;
    this.#onMessage = onMessage;
    this.#onError = onError;
  }

  /** Is the topic's channel subscribed (as far as the bus said)? */
  subscribed(topic: Topic): boolean {
    return this.#entries.get(topic)?.unsubscribe !== undefined;
  }

  /**
   * Resolves once the topic's channel is subscribed, or once the bus refused
   * (reported to onError; see `subscribed`). Never rejects.
   */
  want(topic: Topic): Promise<void> {
    let entry = this.#entries.get(topic);
    if (!entry) {
      entry = { wanted: true, settled: Promise.resolve(), unsubscribe: undefined };
      this.#entries.set(topic, entry);
    }
    entry.wanted = true;
    const current = entry;
    current.settled = current.settled.then(() => this.#apply(topic, current));
    return current.settled;
  }

  /** Drops the topic's subscription (in the background; faults go to onError). */
  release(topic: Topic): void {
    const entry = this.#entries.get(topic);
    if (!entry) return;
    entry.wanted = false;
    entry.settled = entry.settled.then(() => this.#apply(topic, entry));
  }

  /** Unsubscribes everything. */
  async clear(): Promise<void> {
    for (const [topic, entry] of this.#entries) {
      entry.wanted = false;
      entry.settled = entry.settled.then(() => this.#apply(topic, entry));
    }
    await Promise.all([...this.#entries.values()].map((entry) => entry.settled));
  }

  async #apply(topic: Topic, entry: Entry): Promise<void> {
    try {
      if (entry.wanted && !entry.unsubscribe) {
        entry.unsubscribe = await this.#bus.subscribe(this.#channel(topic), this.#onMessage);
      } else if (!entry.wanted && entry.unsubscribe) {
        const unsubscribe = entry.unsubscribe;
        entry.unsubscribe = undefined;
        await unsubscribe();
      }
    } catch (error) {
      this.#onError(toError(error), {
        during: entry.wanted ? "subscribe" : "unsubscribe",
        topic,
      });
    } finally {
      if (!entry.wanted && !entry.unsubscribe && this.#entries.get(topic) === entry) {
        this.#entries.delete(topic);
      }
    }
  }
}
