/**
 * The client's listens: reference-counted per (notifier, key), kept in step
 * with the server by one reconcile loop that batches changes and listens
 * again to everything when the session is new. No I/O of its own: it calls
 * `send`, which POSTs a batch and resolves to `"ok"`, `"session"` (the session
 * is gone), or throws a `RequestError`.
 */
import type { NotifierDef } from "./contract.js";
import { type ListenItem, toError } from "./protocol.js";

/** A refused request: the server's error code and message. */
export class RequestError extends Error {
  override readonly name = "RequestError";
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export type SendResult = "ok" | "session";
export type Send = (
  path: "/listen" | "/unlisten",
  session: string,
  items: ListenItem[],
) => Promise<SendResult>;

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

interface Want {
  readonly item: ListenItem;
  count: number;
  waiters: Waiter[];
}

/** Items per request, so that a batch stays well under the server's body limit. */
const BATCH = 100;

export class Listens {
  readonly #send: Send;
  readonly #onSessionLost: () => void;
  readonly #onNetworkError: (error: Error) => void;
  readonly #desired = new Map<string, Want>();
  /** What the server holds for the current session. */
  readonly #acked = new Map<string, ListenItem>();
  readonly #unlistenWaiters = new Map<string, Waiter[]>();
  /** Called when the reconcile loop next stops. */
  #idleWaiters: (() => void)[] = [];
  /** Topics of the unlisten batch on the wire: not acknowledged to a new listen. */
  readonly #unlistening = new Set<string>();
  /** Topics of the listen batch on the wire. */
  readonly #inflight = new Set<string>();
  #session: string | undefined;
  #scheduled = false;
  #running = false;
  #closed = false;

  constructor(send: Send, onSessionLost: () => void, onNetworkError: (error: Error) => void) {
    this.#send = send;
    this.#onSessionLost = onSessionLost;
    this.#onNetworkError = onNetworkError;
  }

  /** Topics wanted now (for tests and status). */
  get size(): number {
    return this.#desired.size;
  }

  /**
   * The stream's session (`fresh`: the server holds nothing for it yet).
   * Resolves once the server holds what is wanted, as far as it can be sent.
   */
  useSession(session: string, fresh: boolean): Promise<void> {
    this.#session = session;
    if (fresh) this.#acked.clear();
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#schedule();
    });
  }

  /** The session is gone (stream failed for good, or closed). */
  dropSession(): void {
    this.#session = undefined;
    this.#acked.clear();
  }

  listen<K>(def: NotifierDef<K, unknown>, key: K): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("sse-notif: the client is closed"));
    const topic = `${def.name}:${def.keyId(key)}`;
    let want = this.#desired.get(topic);
    if (!want) {
      want = { item: { notifier: def.name, key }, count: 0, waiters: [] };
      this.#desired.set(topic, want);
      this.#settleUnlisten(topic); // an unlisten not yet sent is cancelled
    }
    want.count += 1;
    if (this.#acked.has(topic) && !this.#unlistening.has(topic)) return Promise.resolve();
    const pending = want;
    return new Promise<void>((resolve, reject) => {
      pending.waiters.push({ resolve, reject });
      this.#schedule();
    });
  }

  unlisten<K>(def: NotifierDef<K, unknown>, key: K): Promise<void> {
    const topic = `${def.name}:${def.keyId(key)}`;
    const want = this.#desired.get(topic);
    if (!want) return Promise.resolve();
    want.count -= 1;
    if (want.count > 0) return Promise.resolve();
    this.#desired.delete(topic);
    for (const waiter of want.waiters) waiter.resolve(); // unlistened before it was listened
    if (!this.#acked.has(topic) && !this.#inflight.has(topic)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      // after the server has dropped it
      const waiters = this.#unlistenWaiters.get(topic) ?? [];
      waiters.push({ resolve, reject });
      this.#unlistenWaiters.set(topic, waiters);
      this.#schedule();
    });
  }

  /** Is this topic wanted (a handler may filter events on it)? */
  wants(topic: string): boolean {
    return this.#desired.has(topic);
  }

  close(): void {
    this.#closed = true;
    const error = new Error("sse-notif: the client is closed");
    for (const want of this.#desired.values())
      for (const waiter of want.waiters) waiter.reject(error);
    for (const waiters of this.#unlistenWaiters.values())
      for (const waiter of waiters) waiter.resolve();
    this.#desired.clear();
    this.#unlistenWaiters.clear();
    this.#acked.clear();
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    if (this.#closed) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
      return;
    }
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      void this.#run();
    });
  }

  /** Sends batches until the server holds exactly what is wanted. */
  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (!this.#closed && this.#session !== undefined) {
        const session = this.#session;
        const add = this.#missing(this.#desired, this.#acked);
        const remove = this.#missing(this.#acked, this.#desired);
        if (add.length === 0 && remove.length === 0) break;
        const ok =
          add.length > 0
            ? await this.#listenBatch(session, add)
            : await this.#unlistenBatch(session, remove);
        if (!ok) break;
      }
    } finally {
      this.#running = false;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  async #listenBatch(session: string, wanted: string[]): Promise<boolean> {
    const topics = wanted.filter((topic) => this.#desired.has(topic)); // unlistened meanwhile
    if (topics.length === 0) return true;
    const items = topics.map((topic) => (this.#desired.get(topic) as Want).item);
    for (const topic of topics) this.#inflight.add(topic);
    try {
      const result = await this.#send("/listen", session, items).finally(() => {
        for (const topic of topics) this.#inflight.delete(topic);
      });
      if (result === "session") return this.#lost(session);
      if (session !== this.#session) return true; // a new session meanwhile: start over
      for (const [i, topic] of topics.entries()) this.#confirm(topic, items[i] as ListenItem);
      return true;
    } catch (error) {
      if (!(error instanceof RequestError) || error.status >= 500) return this.#networkError(error);
      if (topics.length > 1) {
        for (const topic of topics) await this.#listenBatch(session, [topic]);
        return true; // one by one, to tell the refused item from the others
      }
      this.#refuse(topics[0] as string, error);
      return true;
    }
  }

  async #unlistenBatch(session: string, topics: string[]): Promise<boolean> {
    const items = topics.map((topic) => this.#acked.get(topic) as ListenItem);
    for (const topic of topics) this.#unlistening.add(topic);
    try {
      const result = await this.#send("/unlisten", session, items);
      if (result === "session") return this.#lost(session);
    } catch (error) {
      if (!(error instanceof RequestError) || error.status >= 500) return this.#networkError(error);
    } finally {
      for (const topic of topics) this.#unlistening.delete(topic);
    }
    for (const topic of topics) {
      this.#acked.delete(topic);
      this.#settleUnlisten(topic);
    }
    return true;
  }

  #settleUnlisten(topic: string): void {
    for (const waiter of this.#unlistenWaiters.get(topic) ?? []) waiter.resolve();
    this.#unlistenWaiters.delete(topic);
  }

  /** Up to {@link BATCH} topics of `from` that `other` lacks. */
  #missing(from: Map<string, unknown>, other: Map<string, unknown>): string[] {
    const topics: string[] = [];
    for (const topic of from.keys()) {
      if (other.has(topic) || this.#inflight.has(topic)) continue;
      topics.push(topic);
      if (topics.length === BATCH) break;
    }
    return topics;
  }

  #confirm(topic: string, item: ListenItem): void {
    this.#acked.set(topic, item); // even if unlistened meanwhile: the loop then unlistens it
    const want = this.#desired.get(topic);
    if (!want) return;
    const waiters = want.waiters;
    want.waiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  #refuse(topic: string, error: Error): void {
    this.#settleUnlisten(topic);
    const want = this.#desired.get(topic);
    if (!want) return;
    this.#desired.delete(topic);
    for (const waiter of want.waiters) waiter.reject(error);
  }

  /** A 410: stop if it is the current session; go on with a newer one otherwise. */
  #lost(session: string): boolean {
    if (session !== this.#session) return true;
    this.dropSession();
    this.#onSessionLost();
    return false;
  }

  #networkError(error: unknown): boolean {
    this.#onNetworkError(toError(error));
    setTimeout(() => this.#schedule(), 1_000);
    return false;
  }
}
