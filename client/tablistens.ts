/**
 * One tab's listens when its session is shared: counted per (notifier, key)
 * within the tab, sent to the tab holding the stream on the first listen and
 * the last unlisten, settled when the holder answers. No I/O of its own.
 */
import type { NotifierDef } from "../protocol/contract.js";
import { type Topic, topicOf } from "../protocol/keys.js";
import type { LostKey } from "../protocol/wire.js";
import { RequestError } from "./listens.js";
import type { TabError, TabListen } from "./tabs.js";

/** Sends a request to the holder; false when there is none yet (a `join` carries it later). */
export type TabSend = (
  request: ({ type: "listen" } | { type: "unlisten"; req: number }) & TabListen,
) => boolean;

interface Want {
  readonly listen: TabListen;
  count: number;
  confirmed: boolean;
  waiters: { resolve(): void; reject(error: Error): void }[];
}

export class TabListens {
  readonly #send: TabSend;
  readonly #dropped: (topic: Topic) => void;
  readonly #wants = new Map<Topic, Want>();
  /** Unlistens sent, until the holder answers that the server no longer holds their key. */
  readonly #unlistens = new Map<number, { readonly listen: TabListen; resolve(): void }>();
  /** How each notifier listened to tells keys apart. */
  readonly #defs = new Map<string, NotifierDef<unknown, unknown>>();
  #req = 0;
  #closed = false;

  /** `dropped`: called when this tab no longer listens to a topic (unlistened, refused). */
  constructor(send: TabSend, dropped: (topic: Topic) => void = () => {}) {
    this.#send = send;
    this.#dropped = dropped;
  }

  listen<K>(def: NotifierDef<K, unknown>, key: K): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("sse-notif: the client is closed"));
    const topic = topicOf(def.name, def.keyId(key));
    this.#defs.set(def.name, def as NotifierDef<unknown, unknown>);
    let want = this.#wants.get(topic);
    if (!want) {
      want = {
        listen: { topic, item: { notifier: def.name, key } },
        count: 0,
        confirmed: false,
        waiters: [],
      };
      this.#wants.set(topic, want);
      this.#send({ type: "listen", ...want.listen });
    }
    want.count += 1;
    if (want.confirmed) return Promise.resolve();
    const pending = want;
    return new Promise((resolve, reject) => pending.waiters.push({ resolve, reject }));
  }

  unlisten<K>(def: NotifierDef<K, unknown>, key: K): Promise<void> {
    const topic = topicOf(def.name, def.keyId(key));
    const want = this.#wants.get(topic);
    if (!want) return Promise.resolve();
    want.count -= 1;
    if (want.count > 0) return Promise.resolve();
    this.#wants.delete(topic);
    this.#dropped(topic);
    for (const waiter of want.waiters) waiter.resolve(); // unlistened before it was listened
    const req = ++this.#req;
    if (!this.#send({ type: "unlisten", req, ...want.listen })) return Promise.resolve();
    const { listen } = want;
    return new Promise((resolve) => this.#unlistens.set(req, { listen, resolve }));
  }

  /** Is `topic` listened to in this tab? */
  wants(topic: Topic): boolean {
    return this.#wants.has(topic);
  }

  /** Is the key of a status's `lost` one this tab listens to? */
  wantsKey(lost: LostKey): boolean {
    const def = this.#defs.get(lost.notifier);
    try {
      return def !== undefined && this.wants(topicOf(lost.notifier, def.keyId(lost.key)));
    } catch {
      return false;
    }
  }

  /** The keys this tab listens to, as a status's `lost` names them. */
  keys(): LostKey[] {
    return [...this.#wants.values()].map((want) => ({
      notifier: want.listen.item.notifier,
      key: want.listen.item.key,
    }));
  }

  /** The keys of `topics` this tab listens to, as a status's `lost` names them. */
  keysOf(topics: readonly Topic[]): LostKey[] {
    return topics.flatMap((topic) => {
      const item = this.#wants.get(topic)?.listen.item;
      return item ? [{ notifier: item.notifier, key: item.key }] : [];
    });
  }

  /** Every listen of this tab, for a new holder. */
  all(): TabListen[] {
    return [...this.#wants.values()].map((want) => ({ ...want.listen, confirmed: want.confirmed }));
  }

  /** The holder answered a listen. */
  listened(topic: Topic, error: TabError | undefined): void {
    const want = this.#wants.get(topic);
    if (!want) return;
    const waiters = want.waiters.splice(0);
    if (error) {
      this.#wants.delete(topic);
      this.#dropped(topic);
      const failure = new RequestError(error.status, error.code, error.message);
      for (const waiter of waiters) waiter.reject(failure);
      return;
    }
    want.confirmed = true;
    for (const waiter of waiters) waiter.resolve();
  }

  /** The holder answered an unlisten: the server stopped sending. */
  unlistened(req: number): void {
    this.#unlistens.get(req)?.resolve();
    this.#unlistens.delete(req);
  }

  /**
   * Another tab holds the stream now (this tab's `join` went to it first):
   * the unlistens the old one did not answer go to it again, and settle
   * when it answers that the server no longer holds their key (it
   * unlistens, resuming the session, what no tab declared). One whose key
   * this tab listens to again settles now, as a listen cancels an unlisten
   * not yet sent without sharing.
   */
  newHolder(): void {
    for (const [req, { listen, resolve }] of [...this.#unlistens]) {
      if (this.#wants.has(listen.topic) || !this.#send({ type: "unlisten", req, ...listen })) {
        this.#unlistens.delete(req);
        resolve();
      }
    }
  }

  close(): void {
    this.#closed = true;
    const error = new Error("sse-notif: the client is closed");
    for (const want of this.#wants.values())
      for (const waiter of want.waiters) waiter.reject(error);
    this.#wants.clear();
    for (const { resolve } of this.#unlistens.values()) resolve();
    this.#unlistens.clear();
  }
}

/** A listen's failure, as it crosses to the tab that asked. */
export function toTabError(error: unknown): TabError {
  if (error instanceof RequestError)
    return { status: error.status, code: error.code, message: error.message };
  return {
    status: 0,
    code: "client",
    message: error instanceof Error ? error.message : String(error),
  };
}

/** The 403 of a request whose identity is not the session's (SPEC §4). */
export function isIdentityError(error: unknown): boolean {
  return (
    error instanceof RequestError && error.code === "forbidden" && /identity/.test(error.message)
  );
}
