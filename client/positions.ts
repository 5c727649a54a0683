/**
 * Where the client stands on each key it listens to (SPEC §6): the position
 * of the last notification it got, else the `pos` its listen answered;
 * after `recovered: true` the `since` it sent, until the replayed
 * notifications arrive. These are the `since` of the next re-listen. Pure.
 */
import type { ListenAnswer } from "./protocol.js";

interface Place {
  pos: string | undefined;
  /** Counts notifications seen, so that an answer does not undo a newer one. */
  seen: number;
}

export class Positions {
  readonly #places = new Map<string, Place>();

  /** The `since` to send for `topic`: its position, or `null` when none is known. */
  since(topic: string): string | null {
    return this.#places.get(topic)?.pos ?? null;
  }

  /** A notification on `topic` arrived with position `pos` (ignored unless a string). */
  observe(topic: string, pos: unknown): void {
    if (typeof pos !== "string") return;
    const place = this.#place(topic);
    place.pos = pos;
    place.seen += 1;
  }

  /** A mark taken when a listen is sent, for {@link answered}. */
  mark(topic: string): number {
    return this.#place(topic).seen;
  }

  /**
   * The listen sent at `mark` answered. `recovered: true` keeps the `since`
   * (the replay brings the positions); otherwise the key starts at `pos`,
   * unless a notification already arrived meanwhile (it is newer).
   */
  answered(topic: string, mark: number, answer: ListenAnswer | undefined): void {
    if (!answer || answer.recovered === true) return;
    const place = this.#place(topic);
    if (place.seen === mark) place.pos = answer.pos;
  }

  /** The key is no longer listened to: a later listen starts afresh. */
  forget(topic: string): void {
    this.#places.delete(topic);
  }

  #place(topic: string): Place {
    let place = this.#places.get(topic);
    if (!place) {
      place = { pos: undefined, seen: 0 };
      this.#places.set(topic, place);
    }
    return place;
  }
}
