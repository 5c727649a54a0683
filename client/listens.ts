/**
 * The client's listens: reference-counted per (notifier, key), kept in step
 * with the server by one reconcile loop that batches changes and listens
 * again to everything, with positions, when the session is new. No I/O of
 * its own: it calls `send`, which POSTs a batch and resolves to `"ok"`, the
 * positions of a `200`, `"session"` (the session is gone), or throws a
 * `RequestError`.
 */
import type { NotifierDef } from "../protocol/contract.js";
import { type Topic, topicOf } from "../protocol/keys.js";
import { toError } from "../protocol/to-error.js";
import type { ListenItem } from "../protocol/wire.js";
import { type HandOver, planTakeOver } from "./handover.js";
import { Positions } from "./positions.js";
import type { Backoff, Clock } from "./reconnect.js";
import { Recovery, type RecoveryReport } from "./recovery.js";
import { Releases } from "./releases.js";
import { RequestError, type Send } from "./requests.js";
import { Wanted } from "./wanted.js";

export type { HandOver } from "./handover.js";
export { RequestError, type Send, type SendResult } from "./requests.js";

/** What {@link Listens} needs from the client. */
export interface ListensHost {
  readonly send: Send;
  /** The server said the current session is gone. */
  sessionLost(): void;
  /** A request failed and will be retried, or (with `item`) a key was refused on a re-listen. */
  error(error: Error, item?: ListenItem): void;
  /** Spaces the retries of failed requests. */
  readonly backoff: Backoff;
  readonly clock: Clock;
  /** What a previous client of the session left, when this one takes it over. */
  readonly handOver?: HandOver;
}

/** Items per request, so that a batch stays well under the server's body limit. */
const BATCH = 100;

export class Listens {
  readonly #host: ListensHost;
  readonly #positions = new Positions();
  readonly #recovery = new Recovery();
  readonly #wanted = new Wanted();
  /** What the server holds for the current session. */
  readonly #acked = new Map<Topic, ListenItem>();
  readonly #releases = new Releases();
  /** Called when the server next holds what is wanted. */
  #idleWaiters: ((report: RecoveryReport | undefined) => void)[] = [];
  /** Topics of the unlisten batch on the wire: not acknowledged to a new listen. */
  readonly #unlistening = new Set<Topic>();
  /** Topics of the listen batch on the wire. */
  readonly #inflight = new Set<Topic>();
  #session: string | undefined;
  #scheduled = false;
  #running = false;
  #closed = false;
  /** The handover (if any) was applied. */
  #tookOver = false;
  #retry: unknown;

  constructor(host: ListensHost) {
    this.#host = host;
  }

  /** Topics wanted now (for tests and status). */
  get size(): number {
    return this.#wanted.size;
  }

  /**
   * The stream's session (`fresh`: the server holds nothing for it yet).
   * Resolves once the server holds everything wanted that it accepts (failed
   * requests are retried until then), with the recovery report when a
   * session was lost before.
   */
  useSession(session: string, fresh: boolean): Promise<RecoveryReport | undefined> {
    if (fresh) this.#forget();
    this.#takeOver(fresh);
    this.#session = session;
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#schedule();
    });
  }

  /** The session is gone (stream failed for good, or closed). */
  dropSession(): void {
    this.#forget();
    this.#session = undefined;
  }

  /** A notification of notifier `name` on `key` arrived with position `pos`. */
  observe(name: string, key: unknown, pos: unknown): void {
    const topic = this.#positions.topicOfEvent(name, key);
    if (topic !== undefined && this.#wanted.has(topic)) this.#positions.observe(topic, pos);
  }

  /** The keys wanted now, as `lost` names them. */
  wanted(): ListenItem[] {
    return [...this.#wanted.entries()].map(([, item]) => item);
  }

  /**
   * The first session of a client that took a session over: resumed, the
   * server holds what the previous client held (what no one wants goes);
   * gone, every key listened to before is recovered from the tabs' positions.
   */
  #takeOver(fresh: boolean): void {
    const handOver = this.#host.handOver;
    if (!handOver || this.#tookOver) return;
    this.#tookOver = true;
    const plan = planTakeOver(handOver, fresh, this.#wanted, (topic) => this.#acked.has(topic));
    for (const topic of plan.released) handOver.released?.(topic);
    for (const [topic, item] of plan.unlisten) {
      this.#acked.set(topic, item);
      this.#releases.on(topic, () => handOver.released?.(topic));
    }
    if (!fresh) return;
    for (const [topic, , since] of plan.recover)
      if (since !== null) this.#positions.observe(topic, since);
    this.#recovery.begin(plan.recover.map(([topic, item]): [Topic, ListenItem] => [topic, item]));
  }

  /** Where the client stands on `def`/`key`: the `since` of its next re-listen (SPEC §6). */
  position<K>(def: NotifierDef<K, unknown>, key: K): string | null {
    return this.#positions.since(topicOf(def.name, def.keyId(key)));
  }

  /** The server holds nothing for this client any more: keep what to recover, settle unlistens. */
  #forget(): void {
    if (this.#session !== undefined || this.#acked.size > 0) {
      this.#recovery.begin([...this.#acked].filter(([topic]) => this.#wanted.has(topic)));
    }
    this.#acked.clear();
    this.#releases.settleAll();
  }

  listen<K>(def: NotifierDef<K, unknown>, key: K): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("sse-notif: the client is closed"));
    const topic = this.#positions.learn(def, key);
    // A first listen cancels an unlisten not yet sent.
    if (this.#wanted.add(topic, { notifier: def.name, key })) this.#releases.settle(topic);
    if (this.#acked.has(topic) && !this.#unlistening.has(topic)) return Promise.resolve();
    const listened = this.#wanted.wait(topic);
    this.#schedule();
    return listened;
  }

  unlisten<K>(def: NotifierDef<K, unknown>, key: K): Promise<void> {
    const topic = topicOf(def.name, def.keyId(key));
    if (!this.#wanted.remove(topic)) return Promise.resolve();
    this.#positions.forget(topic);
    this.#recovery.drop(topic);
    if (!this.#acked.has(topic) && !this.#inflight.has(topic)) return Promise.resolve();
    const released = this.#releases.wait(topic); // after the server has dropped it
    this.#schedule();
    return released;
  }

  /** Is this topic wanted (a handler may filter events on it)? */
  wants(topic: Topic): boolean {
    return this.#wanted.has(topic);
  }

  close(): void {
    this.#closed = true;
    this.#host.clock.clearTimeout(this.#retry);
    this.#wanted.close(new Error("sse-notif: the client is closed"));
    this.#releases.settleAll();
    this.#acked.clear();
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    if (this.#closed) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve(undefined);
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
    let done = false;
    try {
      while (!this.#closed && this.#session !== undefined) {
        const session = this.#session;
        const add = this.#missing(this.#wanted.topics(), this.#acked);
        const remove = this.#missing(this.#acked.keys(), this.#wanted);
        done = add.length === 0 && remove.length === 0;
        if (done) break;
        const ok =
          add.length > 0
            ? await this.#listenBatch(session, add)
            : await this.#unlistenBatch(session, remove);
        if (!ok) break;
      }
    } finally {
      this.#running = false;
      if (done || this.#closed) this.#idle();
    }
  }

  /** The server holds what is wanted (or the client closed): tell who waits. */
  #idle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    const report = this.#closed ? undefined : this.#recovery.take();
    for (const resolve of waiters) resolve(report);
  }

  async #listenBatch(session: string, wanted: Topic[]): Promise<boolean> {
    const topics = wanted.filter((topic) => this.#wanted.has(topic)); // unlistened meanwhile
    if (topics.length === 0) return true;
    const items = topics.map((topic) => this.#wanted.item(topic) as ListenItem);
    const marks = topics.map((topic) => this.#positions.mark(topic));
    const sent = items.map((item, i) => ({
      ...item,
      since: this.#positions.since(topics[i] as Topic),
    }));
    for (const topic of topics) this.#inflight.add(topic);
    try {
      const result = await this.#host.send("/listen", session, sent).finally(() => {
        for (const topic of topics) this.#inflight.delete(topic);
      });
      if (result === "session") return this.#lost(session);
      this.#host.backoff.reset();
      if (session !== this.#session) return true; // a new session meanwhile: start over
      for (const [i, topic] of topics.entries()) {
        const answer = typeof result === "object" ? result.items[i] : undefined;
        this.#positions.answered(topic, marks[i] as number, answer);
        this.#recovery.settle(topic, answer?.recovered ?? null);
        this.#confirm(topic, items[i] as ListenItem);
      }
      return true;
    } catch (error) {
      if (!(error instanceof RequestError) || error.status >= 500) return this.#networkError(error);
      if (topics.length > 1) {
        for (const topic of topics) await this.#listenBatch(session, [topic]);
        return true; // one by one, to tell the refused item from the others
      }
      this.#refuse(topics[0] as Topic, error);
      return true;
    }
  }

  async #unlistenBatch(session: string, topics: Topic[]): Promise<boolean> {
    const items = topics.map((topic) => this.#acked.get(topic) as ListenItem);
    for (const topic of topics) this.#unlistening.add(topic);
    try {
      const result = await this.#host.send("/unlisten", session, items);
      if (result === "session") return this.#lost(session);
      this.#host.backoff.reset();
    } catch (error) {
      if (!(error instanceof RequestError) || error.status >= 500) return this.#networkError(error);
    } finally {
      for (const topic of topics) this.#unlistening.delete(topic);
    }
    for (const topic of topics) {
      this.#acked.delete(topic);
      this.#releases.settle(topic);
    }
    return true;
  }

  /** Up to {@link BATCH} topics of `from` that `other` lacks. */
  #missing(from: Iterable<Topic>, other: { has(topic: Topic): boolean }): Topic[] {
    const topics: Topic[] = [];
    for (const topic of from) {
      if (other.has(topic) || this.#inflight.has(topic)) continue;
      topics.push(topic);
      if (topics.length === BATCH) break;
    }
    return topics;
  }

  #confirm(topic: Topic, item: ListenItem): void {
    this.#acked.set(topic, item); // even if unlistened meanwhile: the loop then unlistens it
    this.#wanted.confirm(topic);
  }

  /** A refused key is forgotten; refused on a re-listen, it is lost and reported. */
  #refuse(topic: Topic, error: Error): void {
    this.#releases.settle(topic);
    const item = this.#wanted.item(topic);
    if (!item) return;
    if (this.#recovery.pending(topic)) {
      this.#recovery.refuse(topic);
      this.#host.error(error, item);
    }
    this.#wanted.refuse(topic, error);
    this.#positions.forget(topic);
  }

  /** A 410: stop if it is the current session; go on with a newer one otherwise. */
  #lost(session: string): boolean {
    if (session !== this.#session) return true;
    this.dropSession();
    this.#host.sessionLost();
    return false;
  }

  /** A network error or a 5xx: retried after a backoff delay, the session kept. */
  #networkError(error: unknown): boolean {
    this.#host.error(toError(error));
    const { clock, backoff } = this.#host;
    clock.clearTimeout(this.#retry);
    this.#retry = clock.setTimeout(() => this.#schedule(), backoff.next());
    return false;
  }
}
