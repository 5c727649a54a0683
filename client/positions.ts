/**
 * Where the client stands on each key it listens to (SPEC §6): the position
 * of the last notification it got, else the `pos` its listen answered;
 * after `recovered: true` the `since` it sent, until the replayed
 * notifications arrive. These are the `since` of the next re-listen. Pure.
 */
import type { NotifierDef } from "../protocol/contract.js";
import { type Topic, topicOf } from "../protocol/keys.js";
import { parsePosition } from "../protocol/positions.js";
import type { ListenAnswer } from "../protocol/wire.js";

interface Place {
  pos: string | undefined;
  /** Counts notifications seen, so that an answer does not undo a newer one. */
  seen: number;
}

export class Positions {
  readonly #places = new Map<Topic, Place>();
  /** Each listened notifier's definition, to find the topic of a notification. */
  readonly #defs = new Map<string, NotifierDef<unknown, unknown>>();

  /** The topic of `key`, remembering how `def` tells keys apart. */
  learn<K>(def: NotifierDef<K, unknown>, key: K): Topic {
    const topic = topicOf(def.name, def.keyId(key));
    this.#defs.set(def.name, def as NotifierDef<unknown, unknown>);
    return topic;
  }

  /** The topic of a notification, `undefined` for a notifier never listened to or a key refused. */
  topicOfEvent(name: string, key: unknown): Topic | undefined {
    const def = this.#defs.get(name);
    try {
      return def && topicOf(name, def.keyId(key));
    } catch {
      return undefined; // a key this notifier's keyId refuses is none the client listens to
    }
  }

  /** The `since` to send for `topic`: its position, or `null` when none is known. */
  since(topic: Topic): string | null {
    return this.#places.get(topic)?.pos ?? null;
  }

  /**
   * A notification on `topic` arrived with position `pos` (ignored unless a
   * string, or when before the key's place: replayed for a tab of a shared
   * session that joined late).
   */
  observe(topic: Topic, pos: unknown): void {
    if (typeof pos !== "string") return;
    const place = this.#place(topic);
    const now = parsePosition(place.pos);
    const next = parsePosition(pos);
    if (now && next && now.epoch === next.epoch && next.offset <= now.offset) return;
    place.pos = pos;
    place.seen += 1;
  }

  /** A mark taken when a listen is sent, for {@link answered}. */
  mark(topic: Topic): number {
    return this.#place(topic).seen;
  }

  /**
   * The listen sent at `mark` answered. `recovered: true` keeps the `since`
   * (the replay brings the positions); otherwise the key starts at `pos`,
   * unless a notification already arrived meanwhile (it is newer).
   */
  answered(topic: Topic, mark: number, answer: ListenAnswer | undefined): void {
    if (!answer || answer.recovered === true) return;
    const place = this.#place(topic);
    if (place.seen === mark) place.pos = answer.pos;
  }

  /** The key is no longer listened to: a later listen starts afresh. */
  forget(topic: Topic): void {
    this.#places.delete(topic);
  }

  #place(topic: Topic): Place {
    let place = this.#places.get(topic);
    if (!place) {
      place = { pos: undefined, seen: 0 };
      this.#places.set(topic, place);
    }
    return place;
  }
}
