/**
 * Where a sharing tab stands on each key it listens to (SPEC §6, §7): the
 * position of the last notification it took, with the event id that
 * brought it, handed to a new holder that recovers from the earliest of the
 * tabs' positions if the session is gone; and the positions it took lately,
 * so that a notification recovered for a tab that was behind is not taken
 * twice by one that had it. Positions are compared for equality only (they
 * are opaque, and never reused). Pure.
 */
import { parseEventId } from "../protocol/wire.js";

/** A key's position in a tab, and the event id (of the shared session) that brought it. */
export interface TabPlace {
  readonly pos: string;
  readonly at: string | undefined;
}

/** Positions remembered to drop repeats: far more than one handover replays to a tab that had them. */
const SEEN = 1_024;

export class TabPositions {
  readonly #places = new Map<string, TabPlace>();
  /** `topic\npos` of the notifications taken lately, oldest first. */
  readonly #seen = new Set<string>();

  /**
   * A notification on `topic` at `pos`, brought by event `id`: false when
   * this tab took it already (a recovery replays it for a tab that was behind).
   */
  take(topic: string, pos: unknown, id: string): boolean {
    if (typeof pos !== "string") return true; // `history: false`: no positions
    this.#places.set(topic, { pos, at: id });
    return this.#see(topic, pos);
  }

  /**
   * The holder confirmed `topic` at `pos` when its last event was `at`: the
   * key's place unless this tab has one of that session already (taken from
   * notifications, it is as far on, and the holder's may be ahead of the
   * notifications still on their way).
   */
  listened(topic: string, pos: string | undefined, at: string | undefined): void {
    if (pos === undefined) return;
    const place = this.#places.get(topic);
    if (place && sessionOf(place.at) === sessionOf(at)) return;
    this.#places.set(topic, { pos, at });
    this.#see(topic, pos); // the notification at `pos`, if any, came before the listen
  }

  place(topic: string): TabPlace | undefined {
    return this.#places.get(topic);
  }

  /** The tab no longer listens to `topic`: a later listen starts afresh. */
  forget(topic: string): void {
    this.#places.delete(topic);
  }

  #see(topic: string, pos: string): boolean {
    const seen = `${topic}\n${pos}`;
    if (this.#seen.has(seen)) return false;
    this.#seen.add(seen);
    if (this.#seen.size > SEEN) this.#seen.delete(this.#seen.values().next().value as string);
    return true;
  }
}

function sessionOf(id: string | undefined): string | undefined {
  return parseEventId(id)?.session;
}
