/**
 * Unlistens waiting for the server to let a topic go: an `unlisten` settles
 * only once the server no longer holds the key (or holds nothing for the
 * client any more), so that a page may rely on hearing nothing after it.
 */
import type { Topic } from "../protocol/keys.js";

/** Per topic, who waits for the server to let it go. */
export class Releases {
  readonly #waiters = new Map<Topic, (() => void)[]>();

  /** Resolves once {@link settle} is called for `topic`. */
  wait(topic: Topic): Promise<void> {
    return new Promise<void>((resolve) => this.on(topic, resolve));
  }

  /** Calls `done` once the server let `topic` go. */
  on(topic: Topic, done: () => void): void {
    const waiters = this.#waiters.get(topic) ?? [];
    waiters.push(done);
    this.#waiters.set(topic, waiters);
  }

  /** The server let `topic` go (or an unlisten not yet sent was cancelled). */
  settle(topic: Topic): void {
    for (const done of this.#waiters.get(topic) ?? []) done();
    this.#waiters.delete(topic);
  }

  /** The server holds nothing for the client any more. */
  settleAll(): void {
    for (const topic of [...this.#waiters.keys()]) this.settle(topic);
  }
}
