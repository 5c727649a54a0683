/**
 * Where a sharing tab stands on each key it listens to (SPEC §6, §7): the
 * position of the last notification it took, with the event id that
 * brought it, handed to a new holder that recovers from the earliest of the
 * tabs' positions if the session is gone. A notification at or before that
 * position (same epoch) is one the tab had: a recovery replays it for a tab
 * that was behind. Positions of a key are contiguous, so no window of seen
 * positions is needed. While a key is recovered for this tab alone (it
 * joined late), a notification past the next one waits for the replay to
 * fill what comes before it. Pure.
 */
import { type Position, parsePosition } from "../protocol/positions.js";
import { parseEventId } from "../protocol/wire.js";

/** A key's position in a tab, and the event id (of the shared session) that brought it. */
export interface TabPlace {
  readonly pos: string;
  readonly at: string | undefined;
}

interface Place extends TabPlace {
  readonly parsed: Position | undefined;
}

interface Waiting {
  readonly pos: string;
  readonly parsed: Position;
  readonly id: string;
  readonly deliver: () => void;
}

/** A key being replayed for this tab: what came past a hole, and (once answered) the key's top. */
interface Replay {
  readonly waiting: Waiting[];
  top: Position | undefined;
}

export class TabPositions {
  readonly #places = new Map<string, Place>();
  readonly #replays = new Map<string, Replay>();

  /**
   * A notification on `topic` at `pos`, brought by event `id`: `deliver` is
   * called now, later (after the replay of what comes before it), or never
   * (this tab took it already).
   */
  take(topic: string, pos: unknown, id: string, deliver: () => void): void {
    const parsed = parsePosition(pos);
    if (typeof pos !== "string" || !parsed) {
      deliver(); // `history: false`: no positions
      return;
    }
    if (this.#had(topic, parsed)) return;
    const replay = this.#replays.get(topic);
    if (!replay) {
      this.#set(topic, pos, id, parsed);
      deliver();
      return;
    }
    replay.waiting.push({ pos, parsed, id, deliver });
    this.#drain(topic, replay);
  }

  /**
   * The holder confirmed `topic` at `pos` when its last event was `at`: the
   * key's place unless this tab has one of that session already (taken from
   * notifications, it is as far on, and the holder's may be ahead of the
   * notifications still on their way), or the key is being replayed.
   */
  listened(topic: string, pos: string | undefined, at: string | undefined): void {
    if (pos === undefined || this.#replays.has(topic)) return;
    const place = this.#places.get(topic);
    if (place && sessionOf(place.at) === sessionOf(at)) return;
    this.#places.set(topic, { pos, at, parsed: parsePosition(pos) });
  }

  place(topic: string): TabPlace | undefined {
    const place = this.#places.get(topic);
    return place && { pos: place.pos, at: place.at };
  }

  /** The holder replays `topic` for this tab from its place: later ones wait for what comes before. */
  replay(topic: string): void {
    if (this.#places.get(topic)?.parsed && !this.#replays.has(topic))
      this.#replays.set(topic, { waiting: [], top: undefined });
  }

  /**
   * The replay of `topic` was answered: `recovered`, everything after the
   * place up to `top` comes before any later notification; otherwise what
   * waits is taken now (the key is lost).
   */
  replayed(topic: string, recovered: boolean, top: string | undefined): void {
    const replay = this.#replays.get(topic);
    if (!replay) return;
    replay.top = recovered ? parsePosition(top) : undefined;
    if (!replay.top) this.#finish(topic, replay);
    else this.#drain(topic, replay);
  }

  /** The holder went mid-replay: what waits is taken now; returns the keys that may have lost some. */
  abandon(): string[] {
    const topics = [...this.#replays.keys()];
    for (const [topic, replay] of [...this.#replays]) this.#finish(topic, replay);
    return topics;
  }

  /** The tab no longer listens to `topic`: a later listen starts afresh. */
  forget(topic: string): void {
    this.#places.delete(topic);
    this.#replays.delete(topic);
  }

  #had(topic: string, pos: Position): boolean {
    const last = this.#places.get(topic)?.parsed;
    return last !== undefined && last.epoch === pos.epoch && pos.offset <= last.offset;
  }

  #set(topic: string, pos: string, at: string, parsed: Position): void {
    this.#places.set(topic, { pos, at, parsed });
  }

  /** Takes what follows the place without a hole; ends the replay once it is complete. */
  #drain(topic: string, replay: Replay): void {
    for (;;) {
      const last = this.#places.get(topic)?.parsed;
      const next = replay.waiting.findIndex(
        (w) => last && w.parsed.epoch === last.epoch && w.parsed.offset === last.offset + 1,
      );
      if (next < 0) break;
      const [taken] = replay.waiting.splice(next, 1) as [Waiting];
      this.#set(topic, taken.pos, taken.id, taken.parsed);
      taken.deliver();
    }
    this.#dropHad(topic, replay);
    const top = replay.top;
    const last = this.#places.get(topic)?.parsed;
    if (!top || !last) return;
    // Up to the top, or one past it came: the replay (before it on the stream) is all here.
    const done =
      (last.epoch === top.epoch && last.offset >= top.offset) ||
      replay.waiting.some((w) => w.parsed.epoch !== top.epoch || w.parsed.offset > top.offset);
    if (done) this.#finish(topic, replay);
  }

  /** Ends the replay of `topic`: what waits is taken in order (past the holes it may have). */
  #finish(topic: string, replay: Replay): void {
    this.#replays.delete(topic);
    const epoch = this.#places.get(topic)?.parsed?.epoch;
    const rank = (w: Waiting) => (w.parsed.epoch === epoch ? 0 : 1); // the current epoch first
    const waiting = replay.waiting.splice(0).sort((a, b) => {
      const same = a.parsed.epoch === b.parsed.epoch;
      return rank(a) - rank(b) || (same ? a.parsed.offset - b.parsed.offset : 0);
    });
    for (const w of waiting) this.take(topic, w.pos, w.id, w.deliver);
  }

  #dropHad(topic: string, replay: Replay): void {
    for (let i = replay.waiting.length - 1; i >= 0; i -= 1)
      if (this.#had(topic, (replay.waiting[i] as Waiting).parsed)) replay.waiting.splice(i, 1);
  }
}

function sessionOf(id: string | undefined): string | undefined {
  return parseEventId(id)?.session;
}
