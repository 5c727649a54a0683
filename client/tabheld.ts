/**
 * What the server may hold for a shared session (SPEC §7): the topics the
 * holder asked to listen to, from before its request went until the
 * unlisten answered. The holder tells every tab of each change, so that when
 * it dies (with an unlisten or a tab's leave not yet forwarded) its successor
 * knows what the server may still send and unlistens what no tab wants. Pure.
 */
import type { Topic } from "../protocol/keys.js";
import type { ListenItem } from "../protocol/wire.js";
import type { HolderMessage, TabListen } from "./tabs.js";

type HeldMessage = Extract<HolderMessage, { type: "held" }>;

export class HeldTopics {
  readonly #items = new Map<Topic, ListenItem>();

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
