/**
 * One notification on this node, once the bus (broadcast.ts) and the position
 * order (sequencer.ts) let it through: `prepare` once per listening identity
 * → one frame body per distinct client value (frames.ts) → each listening
 * session's replay buffer and stream (session.ts). Order per key holds even
 * when `prepare` is async: later notifications on a key wait for earlier
 * ones (key-order.ts).
 */

import type { NotifierDef } from "../protocol/contract.js";
import type { Topic } from "../protocol/keys.js";
import { toError } from "./errors.js";
import { eventHead, markNotFor, notificationBody } from "./frames.js";
import type { IdentityId } from "./ids.js";
import { type Job, KeyOrder } from "./key-order.js";
import type { Exclusion } from "./messages.js";
import type { NotifierOptions } from "./options.js";
import type { NotifierCounts } from "./probe.js";
import type { Session } from "./session.js";

/** Who of a topic's listeners one delivery is for, beyond `notfor`, and its position. */
export interface Audience {
  /** The notification's position (`data.pos`); absent without history. */
  readonly pos?: string;
  /** Only this session (a replay after `since`). */
  readonly only?: Session;
  /** Sessions that must not get it (asked when sending). */
  readonly skip?: (session: Session) => boolean;
  /** The value's JSON when already made, for notifiers without `prepare`. */
  readonly valueJson?: string;
  /**
   * The listen generation when it was notified: it goes to the listens of
   * generation ≤ `since` that still hold when it is sent (SPEC §5.3), even
   * behind async work on its key. Default: every listen there is now.
   */
  readonly since?: number;
}

const EVERYONE: Audience = {};

/** What a delivery needs from its hub. */
export interface DeliveryHost {
  listeners(
    topic: Topic,
  ): { sessions: Set<Session>; byIdentity: Map<IdentityId, Set<Session>> } | undefined;
  onError(error: Error, context: object): void;
  /** Ms an async `prepare` may take before it counts as blocking its identity. */
  readonly prepareTimeout: number;
  /** The registry's listen generation now (see `Registry.generation`). */
  generation(): number;
}

/** One identity's `prepare` result, sent when its job runs. */
interface Prepared {
  readonly identityId: IdentityId;
  readonly sessions: Session[];
  result: unknown;
}

/** `prepare` threw (reported): nothing for that identity. */
const FAILED = Symbol("prepare failed");

export class Delivery<Key, ServerNotif, ClientNotif, Identity> {
  readonly def: NotifierDef<Key, ClientNotif>;
  readonly options: NotifierOptions<Key, ServerNotif, ClientNotif, Identity>;
  /** Read by metrics; `notifies` is counted by the hub's `notify`. */
  readonly counts: NotifierCounts = { notifies: 0, prepareErrors: 0 };
  readonly #host: DeliveryHost;
  readonly #eventHead: string;
  /** Per topic, jobs waiting behind an async `prepare`. */
  readonly #order = new KeyOrder<Topic>();

  constructor(
    def: NotifierDef<Key, ClientNotif>,
    options: NotifierOptions<Key, ServerNotif, ClientNotif, Identity>,
    host: DeliveryHost,
  ) {
    this.def = def;
    this.#eventHead = eventHead(def.name);
    this.options = options;
    this.#host = host;
  }

  /** Delivers a server notification to this node's listeners of `topic` (or `audience.only`). */
  deliver(
    topic: Topic,
    key: Key,
    value: ServerNotif,
    exclusion: Exclusion,
    given: Audience = EVERYONE,
  ): void {
    const audience =
      given.since === undefined ? { ...given, since: this.#host.generation() } : given;
    const only = audience.only;
    const listeners = only
      ? { sessions: new Set([only]), byIdentity: new Map([[only.identityId, new Set([only])]]) }
      : this.#host.listeners(topic);
    if (!listeners) return;
    const keyJson = JSON.stringify(key);
    if (this.options.prepare)
      this.#deliverPrepared(topic, key, keyJson, value, exclusion, listeners, audience);
    else this.#deliverSimple(topic, keyJson, value, exclusion, listeners.sessions, audience);
  }

  /** Runs `run` in `topic`'s order: after every delivery already scheduled on it. */
  after(topic: Topic, run: () => void): void {
    this.#order.schedule(topic, { pending: 0, run });
  }

  /** Without `prepare`: one body for everyone, serialised once. */
  #deliverSimple(
    topic: Topic,
    keyJson: string,
    value: ServerNotif,
    exclusion: Exclusion,
    sessions: Set<Session>,
    audience: Audience,
  ): void {
    const body = this.#body(keyJson, value, topic, audience);
    if (body === undefined) return;
    if (!this.#order.waiting(topic)) {
      this.#send(sessions, topic, body, exclusion, audience);
      return;
    }
    const snapshot = [...sessions]; // behind async work on this key: keep its order
    this.#order.schedule(topic, {
      pending: 0,
      run: () => this.#send(snapshot, topic, body, exclusion, audience),
    });
  }

  /** With `prepare`: one call and one body per distinct identity; async results keep key order. */
  #deliverPrepared(
    topic: Topic,
    key: Key,
    keyJson: string,
    value: ServerNotif,
    exclusion: Exclusion,
    listeners: { byIdentity: Map<IdentityId, Set<Session>> },
    audience: Audience,
  ): void {
    const queued = this.#order.waiting(topic);
    const results: Prepared[] = [];
    for (const [identityId, group] of listeners.byIdentity) {
      if (identityId === exclusion.identity) continue;
      const result = this.#prepare(topic, identityId, group, value, key);
      if (result === FAILED) continue;
      if (queued || isThenable(result)) results.push({ identityId, sessions: [...group], result });
      else if (result !== undefined)
        this.#sendValue(group, topic, keyJson, result, exclusion, audience);
    }
    if (results.length === 0) return;
    const job: Job = {
      pending: 0,
      run: () => {
        for (const { sessions, result } of results) {
          if (result !== undefined)
            this.#sendValue(sessions, topic, keyJson, result, exclusion, audience);
        }
      },
    };
    for (const entry of results) {
      if (isThenable(entry.result)) this.#await(topic, job, entry, entry.result);
    }
    this.#order.schedule(topic, job);
  }

  /** One identity's `prepare` call: its result (maybe a promise), or `FAILED` when it threw. */
  #prepare(
    topic: Topic,
    identityId: IdentityId,
    group: Set<Session>,
    value: ServerNotif,
    key: Key,
  ): unknown {
    const prepare = this.options.prepare as NonNullable<typeof this.options.prepare>;
    const first: Session | undefined = group.values().next().value;
    try {
      return prepare(first?.identity as Identity, value, key);
    } catch (error) {
      this.#prepareFailed(error, topic, identityId);
      return FAILED;
    }
  }

  /**
   * Holds `job` until an identity's async `prepare` settles (a rejection
   * blocks that identity), or `prepareTimeout` passes: one that never settles
   * would hold back every later notify on its key.
   */
  #await(topic: Topic, job: Job, entry: Prepared, result: PromiseLike<unknown>): void {
    job.pending += 1;
    let timer: NodeJS.Timeout | undefined;
    const settle = (value: unknown) => {
      if (timer === undefined) return; // settled already (or timed out)
      clearTimeout(timer);
      timer = undefined;
      entry.result = value;
      job.pending -= 1;
      this.#order.drain(topic);
    };
    const fail = (error: unknown) => {
      if (timer !== undefined) this.#prepareFailed(error, topic, entry.identityId);
      settle(undefined);
    };
    const ms = this.#host.prepareTimeout;
    timer = setTimeout(() => fail(new Error(`prepare did not settle within ${ms} ms`)), ms);
    result.then(settle, fail);
  }

  #send(
    sessions: Iterable<Session>,
    topic: Topic,
    body: string,
    exclusion: Exclusion,
    audience: Audience,
  ): void {
    const since = audience.since ?? Number.POSITIVE_INFINITY;
    for (const session of sessions) {
      if (session.ended) continue;
      // Unlistened meanwhile, or listening again since it was notified (SPEC §5.3).
      const listened = session.topics.get(topic);
      if (listened === undefined || listened > since) continue;
      if (session.identityId === exclusion.identity) continue;
      if (audience.skip?.(session)) continue;
      if (session.id !== exclusion.session) session.push(body);
      else if (exclusion.tab !== undefined) session.push(markNotFor(body, exclusion.tab));
    }
  }

  #sendValue(
    sessions: Iterable<Session>,
    topic: Topic,
    keyJson: string,
    value: unknown,
    exclusion: Exclusion,
    audience: Audience,
  ): void {
    const body = this.#body(keyJson, value, topic, { pos: audience.pos });
    if (body !== undefined) this.#send(sessions, topic, body, exclusion, audience);
  }

  /** The event's text after its id line; JSON.stringify's output is one line, so nothing to check. */
  #body(keyJson: string, value: unknown, topic: Topic, audience: Audience): string | undefined {
    try {
      const json = audience.valueJson ?? JSON.stringify(value);
      if (json === undefined) throw new TypeError("the client notification is not JSON");
      return notificationBody(this.#eventHead, keyJson, json, audience.pos);
    } catch (error) {
      this.#host.onError(toError(error), {
        notifier: this.def.name,
        topic,
        during: "serialise",
      });
      return undefined;
    }
  }

  #prepareFailed(error: unknown, topic: Topic, identityId: IdentityId): void {
    this.counts.prepareErrors += 1;
    this.#host.onError(toError(error), {
      notifier: this.def.name,
      topic,
      identity: identityId,
      during: "prepare",
    });
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

// biome-ignore lint/suspicious/noExplicitAny: notifiers of every key and value type live in one map
export type AnyDelivery = Delivery<any, any, any, any>;
