/**
 * A sharing tab's side of its events: the handlers `client.on` registered,
 * the cursor that takes each relayed event once, the positions that take
 * each notification once and in order (across a recovery too), and the filter that hands
 * a handler only the keys this tab listens to (the session gets the union of
 * every tab's) and never an event `notfor` left this tab out of.
 */
import type { NotifierDef } from "../protocol/contract.js";
import { type Topic, topicOf } from "../protocol/keys.js";
import { EventCursor } from "./cursor.js";
import { parseNotification } from "./routes.js";
import { TabPositions } from "./tabpositions.js";

type Handler = (key: unknown, value: unknown) => void;

export class TabEvents {
  readonly cursor = new EventCursor();
  readonly positions = new TabPositions();
  readonly #tab: string;
  readonly #wants: (topic: Topic) => boolean;
  readonly #handlers = new Map<string, Set<Handler>>();
  readonly #defs = new Map<string, NotifierDef<unknown, unknown>>();

  constructor(tab: string, wants: (topic: Topic) => boolean) {
    this.#tab = tab;
    this.#wants = wants;
  }

  on(def: NotifierDef<unknown, unknown>, handler: Handler): () => void {
    this.#defs.set(def.name, def);
    let set = this.#handlers.get(def.name);
    if (!set) {
      set = new Set();
      this.#handlers.set(def.name, set);
    }
    set.add(handler);
    const handlers = set;
    return () => void handlers.delete(handler);
  }

  /** A relayed event: handed to the handlers unless seen already, left out or not listened to. */
  take(id: string, name: string, text: string): void {
    if (!this.cursor.accept(id)) return;
    const def = this.#defs.get(name);
    const data = parseNotification(text);
    if (!def || !data) return;
    let topic: Topic;
    try {
      topic = topicOf(name, def.keyId(data.key));
    } catch {
      return; // a key this notifier's keyId refuses is none this tab listens to
    }
    if (!this.#wants(topic)) return;
    // notfor: its position still counts (it is not owed again), but the tab is left out
    this.positions.take(topic, data.pos, id, () => {
      if (data.notfor !== this.#tab) this.#hand(name, data.key, data.data);
    });
  }

  #hand(name: string, key: unknown, value: unknown): void {
    for (const handler of [...(this.#handlers.get(name) ?? [])]) {
      try {
        handler(key, value);
      } catch (error) {
        reportError(error);
      }
    }
  }
}

function reportError(error: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (report) report(error);
  else console.error(error);
}
