/**
 * What the server may hold for a shared session (SPEC §7): the topics the
 * holder asked to listen to, from before its request went until the
 * unlisten answered. The holder tells every tab of each change, so that when
 * it dies (with an unlisten or a tab's leave not yet forwarded) its successor
 * knows what the server may still send and unlistens what no tab wants; and
 * the unlistens a successor answers only once it let their topic go. Pure.
 */
import type { Topic } from "../protocol/keys.js";
import type { ListenItem } from "../protocol/wire.js";
import type { HolderMessage, TabListen } from "./tabs.js";

type HeldMessage = Extract<HolderMessage, { type: "held" }>;

export class HeldTopics {
  readonly #items = new Map<Topic, ListenItem>();
  /** Unlistens of tabs waiting for the holder to let a topic go. */
  readonly #waiting = new Map<Topic, (() => void)[]>();

  /** The topics and their items. */
  entries(): [Topic, ListenItem][] {
    return [...this.#items];
  }

  has(topic: Topic): boolean {
    return this.#items.has(topic);
  }

  /** Adds `listen`; false when it was held already. */
  add(listen: TabListen): boolean {
    if (this.#items.has(listen.topic)) return false;
    this.#items.set(listen.topic, listen.item);
    return true;
  }

  /** Removes `topic`; false when it was not held. */
  remove(topic: Topic): boolean {
    return this.#items.delete(topic);
  }

  /** Calls `done` once {@link settle} is called for `topic`. */
  whenSettled(topic: Topic, done: () => void): void {
    const waiting = this.#waiting.get(topic) ?? [];
    waiting.push(done);
    this.#waiting.set(topic, waiting);
  }

  /** The holder let `topic` go, or a tab wants it again: whoever waited on it is done. */
  settle(topic: Topic): void {
    const waiting = this.#waiting.get(topic) ?? [];
    this.#waiting.delete(topic);
    for (const done of waiting) done();
  }

  /** As the holder's message says. */
  apply(message: HeldMessage): void {
    if (message.all) this.#items.clear();
    for (const listen of message.add) this.#items.set(listen.topic, listen.item);
    for (const topic of message.remove) this.#items.delete(topic);
  }

  /** Every topic, as a listen (for a `held` message with `all`). */
  listens(): TabListen[] {
    return this.entries().map(([topic, item]) => ({ topic, item }));
  }
}
