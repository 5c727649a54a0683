/**
 * The reference model of per-key history and positions (SPEC §5.8, §6),
 * written from the SPEC and knowing nothing of the library's code. Per key:
 * its generation (a new epoch whenever the history behind it is lost: here,
 * an in-process history's process restarted, Redis flushed), its top offset, the value of
 * every notify ever made (trimmed or not), and `size`, the entries a history
 * keeps. From that it says what a client holding a position may be told:
 * `recovered: true` exactly when the history still holds every notification
 * after it, and `lost` (a `gap`) only when it does not. Pure: no I/O.
 */

/** The keys of the position model tests (one notifier, `chat`). */
export const PKEYS: readonly string[] = ["a", "b", "c"];

/** A client's position on a key, as the model sees it: generation and offset. */
export interface MPos {
  readonly gen: number;
  readonly offset: number;
}

interface KeyState {
  gen: number;
  top: number;
  /** `${gen}:${offset}` → the notified value. */
  readonly values: Map<string, number>;
}

export class PositionModel {
  /** Entries kept per key (`history: { size }`). */
  readonly size: number;
  readonly #keys = new Map<string, KeyState>();
  /** `${key}:${gen}` → the top a generation ended at. */
  readonly #ends = new Map<string, number>();

  constructor(size: number) {
    this.size = size;
  }

  #state(key: string): KeyState {
    let state = this.#keys.get(key);
    if (!state) {
      state = { gen: 0, top: 0, values: new Map() };
      this.#keys.set(key, state);
    }
    return state;
  }

  /** A notify of `v` on `key`: its offset is the key's next one. */
  notify(key: string, v: number): MPos {
    const state = this.#state(key);
    state.top += 1;
    state.values.set(`${state.gen}:${state.top}`, v);
    return { gen: state.gen, offset: state.top };
  }

  /** The history is lost for every key (its process restarted, Redis flushed). */
  restart(): void {
    for (const key of PKEYS) {
      const state = this.#state(key);
      this.#ends.set(`${key}:${state.gen}`, state.top);
      state.gen += 1;
      state.top = 0;
    }
  }

  /** The key's position now. */
  top(key: string): MPos {
    const state = this.#state(key);
    return { gen: state.gen, offset: state.top };
  }

  /** The top an older generation ended at (`undefined` for the current one). */
  end(key: string, gen: number): number | undefined {
    return this.#ends.get(`${key}:${gen}`);
  }

  /** The value notified at a position; `undefined` when no notify had it. */
  value(key: string, pos: MPos): number | undefined {
    return this.#state(key).values.get(`${pos.gen}:${pos.offset}`);
  }

  /** Is the notification at `offset` of the key's current generation still in its history? */
  kept(key: string, offset: number): boolean {
    const { top } = this.#state(key);
    return offset >= 1 && offset <= top && offset > top - this.size;
  }

  /**
   * Does the history hold every notification after `pos` (SPEC §6: what
   * `recovered: true` means)? Only within the current generation, for a
   * position not ahead of the key, when the next one is still kept.
   */
  recoverable(key: string, pos: MPos): boolean {
    const { gen, top } = this.#state(key);
    if (pos.gen !== gen || pos.offset > top) return false;
    return pos.offset === top || this.kept(key, pos.offset + 1);
  }
}
