/**
 * The listens the page wants, counted per topic: the first `listen` of a
 * topic makes it wanted, the last `unlisten` drops it. A wanted topic keeps
 * the promises of the listens waiting for the server to hold it. Pure: no
 * requests, no timers; {@link Listens} keeps the server in step with it.
 */
import type { Topic } from "../protocol/keys.js";
import type { ListenItem } from "../protocol/wire.js";

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

interface Want {
  readonly item: ListenItem;
  count: number;
  waiters: Waiter[];
}

/** Topics wanted by the page, reference-counted, with the listens that wait on each. */
export class Wanted {
  readonly #wants = new Map<Topic, Want>();

  get size(): number {
    return this.#wants.size;
  }

  has(topic: Topic): boolean {
    return this.#wants.has(topic);
  }

  /** The item a wanted topic is listened to with. */
  item(topic: Topic): ListenItem | undefined {
    return this.#wants.get(topic)?.item;
  }

  /** The wanted topics, in the order they were first wanted. */
  topics(): IterableIterator<Topic> {
    return this.#wants.keys();
  }

  /** The wanted topics with their items, in the order they were first wanted. */
  *entries(): IterableIterator<[Topic, ListenItem]> {
    for (const [topic, { item }] of this.#wants) yield [topic, item];
  }

  /** Counts one more listen of `topic`; true when it was not wanted before. */
  add(topic: Topic, item: ListenItem): boolean {
    const want = this.#wants.get(topic);
    if (want) {
      want.count += 1;
      return false;
    }
    this.#wants.set(topic, { item, count: 1, waiters: [] });
    return true;
  }

  /** Settles once the server holds the wanted `topic` ({@link confirm}) or refused it. */
  wait(topic: Topic): Promise<void> {
    const want = this.#wants.get(topic);
    if (!want) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      want.waiters.push({ resolve, reject });
    });
  }

  /**
   * Counts one listen fewer; true when it was the last: the topic is no
   * longer wanted, and the listens still waiting on it resolve (unlistened
   * before they were listened).
   */
  remove(topic: Topic): boolean {
    const want = this.#wants.get(topic);
    if (!want) return false;
    want.count -= 1;
    if (want.count > 0) return false;
    this.#wants.delete(topic);
    for (const waiter of want.waiters) waiter.resolve();
    return true;
  }

  /** The server holds `topic`: the listens waiting on it resolve. */
  confirm(topic: Topic): void {
    const want = this.#wants.get(topic);
    if (!want) return;
    const waiters = want.waiters;
    want.waiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  /** The server refused `topic`: no longer wanted, the listens waiting on it reject. */
  refuse(topic: Topic, error: Error): void {
    const want = this.#wants.get(topic);
    if (!want) return;
    this.#wants.delete(topic);
    for (const waiter of want.waiters) waiter.reject(error);
  }

  /** The client closed: every waiting listen rejects, nothing is wanted. */
  close(error: Error): void {
    for (const want of this.#wants.values())
      for (const waiter of want.waiters) waiter.reject(error);
    this.#wants.clear();
  }
}
