/**
 * A node's own notifies and their echo (broadcast.ts). Each notify this node
 * publishes comes back to it from the bus; while it is on its way it is
 * awaited here, so that this node delivers it exactly once: when the echo
 * comes back, or earlier, without the bus, when the echo may not come (the
 * bus is down, a subscription broke). A notify delivered without the bus is
 * remembered for a while, so that its late echo is dropped.
 */

/** How long an id of a notify delivered here is kept to drop its late echo. */
const ECHO_WINDOW_MS = 60_000;
const ECHO_WINDOW_SIZE = 10_000;
/** How long this node waits for its own notify to come back before it delivers it itself. */
const ECHO_TIMEOUT_MS = 2_000;

/**
 * A notify published, with listeners here, not yet back. Without positions
 * `since` is the listen generation when it was notified: its echo goes only
 * to the listens there were then (SPEC §5.3); with positions the sequencer's
 * floors see to that. `appended: false`: its history write is on its way,
 * and settles it (SPEC §6: delivered with its position, or here without one
 * if the write fails), never `deliverAwaited`.
 */
export interface Awaited {
  /** Delivers it on this node, without the bus. */
  readonly here: () => void;
  readonly at: number;
  readonly since?: number;
  appended?: boolean;
}

export class Echoes {
  /** This node's notifies delivered here without the bus (id → when): their echo is dropped. */
  readonly #deliveredHere = new Map<number, number>();
  /** By id, in publish order. */
  readonly #awaited = new Map<number, Awaited>();

  /** Waits for the echo of this node's notify `id`. */
  await(id: number, awaited: Awaited): void {
    this.#awaited.set(id, awaited);
  }

  /** Stops waiting for `id`'s echo: what was awaited, or `undefined` when it was not (any more). */
  take(id: number): Awaited | undefined {
    const awaited = this.#awaited.get(id);
    this.#awaited.delete(id);
    return awaited;
  }

  /** Delivers notify `id` here, without the bus, and remembers it so that its echo is dropped. */
  deliverHere(id: number, deliver: () => void): void {
    const now = Date.now();
    for (const [old, at] of this.#deliveredHere) {
      if (at > now - ECHO_WINDOW_MS && this.#deliveredHere.size < ECHO_WINDOW_SIZE) break;
      this.#deliveredHere.delete(old); // its echo is not coming any more
    }
    this.#deliveredHere.set(id, now);
    deliver();
  }

  /** Was notify `id` delivered here without the bus? Its echo has come: forgotten. */
  deliveredHere(id: number): boolean {
    return this.#deliveredHere.delete(id);
  }

  /**
   * Delivers here the notifies whose echo may not come: all of them when the
   * bus was lost or the hub closes, else those older than `ECHO_TIMEOUT_MS`
   * (a subscription that silently broke). A late echo is then dropped.
   */
  deliverAwaited(all = true): void {
    const deadline = Date.now() - ECHO_TIMEOUT_MS;
    for (const [id, { here, at, appended }] of this.#awaited) {
      if (!all && at > deadline) break; // the map is in publish order
      // Delivered now it would have no position: a client would then recover it again elsewhere.
      if (appended === false) continue;
      this.#awaited.delete(id);
      here();
    }
  }
}
