/**
 * What a lost session cost: the keys the client listened to when it lost
 * its session, and, as it listens again on a new one, which of them the
 * server recovered by position and which are lost (not recovered, or
 * refused). Survives a session lost again mid-way. Pure.
 */
import type { Topic } from "../protocol/keys.js";
import type { ListenItem, LostKey } from "../protocol/wire.js";

/** The outcome of listening again on everything after a lost session. */
export interface RecoveryReport {
  /** Every key listened to came back with nothing missed. */
  readonly recovered: boolean;
  /** The keys that may have missed notifications, or whose listen was refused. */
  readonly lost: readonly LostKey[];
}

export class Recovery {
  /** Keys to listen again on, not answered yet. */
  readonly #pending = new Map<Topic, ListenItem>();
  readonly #lost = new Map<Topic, LostKey>();
  #began = false;

  /** A session was lost while holding `held` (topic → item). */
  begin(held: Iterable<[Topic, ListenItem]>): void {
    this.#began = true;
    for (const [topic, item] of held) if (!this.#lost.has(topic)) this.#pending.set(topic, item);
  }

  /** Is `topic` waiting to be listened to again? */
  pending(topic: Topic): boolean {
    return this.#pending.has(topic);
  }

  /** The re-listen of `topic` answered `recovered` (`null`: no history to ask). */
  settle(topic: Topic, recovered: boolean | null): void {
    const item = this.#pending.get(topic);
    if (!item) return;
    this.#pending.delete(topic);
    if (recovered !== true) this.#lost.set(topic, { notifier: item.notifier, key: item.key });
  }

  /** The re-listen of `topic` was refused. */
  refuse(topic: Topic): void {
    this.settle(topic, false);
  }

  /** The app stopped listening to `topic`: it no longer counts. */
  drop(topic: Topic): void {
    this.#pending.delete(topic);
    this.#lost.delete(topic);
  }

  /**
   * Once every key was listened to again: the report, and a clean slate.
   * `undefined` when no session was lost since the last report, or when
   * some key still waits for its answer.
   */
  take(): RecoveryReport | undefined {
    if (!this.#began || this.#pending.size > 0) return undefined;
    const lost = [...this.#lost.values()];
    this.#began = false;
    this.#lost.clear();
    return { recovered: lost.length === 0, lost };
  }
}
