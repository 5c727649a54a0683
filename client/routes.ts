/**
 * Where the holder of a shared stream sends each event: the tabs listening on
 * its key, by the listens counted in {@link TabRefs}. Keys are matched by
 * canonical JSON, as the default `keyId` does; a notifier whose tabs use a
 * custom `keyId` (which cannot cross a `BroadcastChannel`) has its events
 * sent to every tab listening on that notifier, and the tabs filter them with
 * their own `keyId`. Pure.
 */
import type { NotifierDef } from "../protocol/contract.js";
import { canonicalJson, type Topic, topicOf } from "../protocol/keys.js";
import type { NotificationEventData } from "../protocol/wire.js";
import { TabRefs } from "./tabrefs.js";
import type { TabListen } from "./tabs.js";

export class Routes<V> {
  readonly refs = new TabRefs<V>();
  readonly #custom = new Set<string>();
  readonly #defs = new Map<string, NotifierDef<unknown, unknown>>();

  /**
   * The definition the holder's stream client listens with: canonical keys,
   * or, for a custom `keyId`, one that gives the tab's key id for this key.
   */
  def(name: string, topic: Topic, key: unknown): NotifierDef<unknown, unknown> {
    const id = topic.slice(name.length + 1);
    if (safeCanonical(key) !== id) {
      this.#custom.add(name);
      return { name, keyId: () => id };
    }
    let def = this.#defs.get(name);
    if (!def) {
      def = Object.freeze({ name, keyId: (k: unknown) => canonicalJson(k) });
      this.#defs.set(name, def);
    }
    return def;
  }

  /** The tabs an event of notifier `name` on `key` goes to. */
  targets(name: string, key: unknown): Iterable<string> {
    if (!this.#custom.has(name)) {
      const topic = canonicalTopic(name, key);
      return topic === undefined ? [] : this.refs.tabsOf(topic); // no tab listens to a non-JSON key
    }
    const prefix = `${name}:`;
    return this.refs
      .tabIds()
      .filter((tab) => [...this.refs.topicsOf(tab).keys()].some((t) => t.startsWith(prefix)));
  }

  /** Is an event of `name` on `key` one of `listens` (as a joining tab confirmed them)? */
  among(listens: readonly TabListen[], name: string, key: unknown): boolean {
    const confirmed = listens.filter((listen) => listen.confirmed);
    if (this.#custom.has(name)) return confirmed.some((listen) => listen.item.notifier === name);
    const topic = canonicalTopic(name, key);
    return topic !== undefined && confirmed.some((listen) => listen.topic === topic);
  }
}

/** The topic of `key` under canonical key ids; undefined when the key is not JSON. */
function canonicalTopic(name: string, key: unknown): Topic | undefined {
  const id = safeCanonical(key);
  return id === undefined ? undefined : topicOf(name, id);
}

function safeCanonical(key: unknown): string | undefined {
  try {
    return canonicalJson(key);
  } catch {
    return undefined;
  }
}

/** The data of a notification event, or undefined when it is none. */
export function parseNotification(text: unknown): NotificationEventData | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && "key" in value
      ? (value as NotificationEventData)
      : undefined;
  } catch {
    return undefined;
  }
}
