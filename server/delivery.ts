/**
 * A notifier on a hub: `notify` → `prepare` per identity → one frame body per
 * distinct client value → every listening session. Order per key is kept even
 * when `prepare` is async: later notifications on a key wait for earlier ones.
 */
import type { NotifierDef } from "../protocol/contract.js";
import { canonicalJson } from "../protocol/keys.js";
import { isTabId, TAB_HEADER } from "../protocol/wire.js";
import { toError } from "./errors.js";
import { eventHead, markNotFor, notificationBody } from "./frames.js";
import type { Exclusion } from "./messages.js";
import type { NotifierCounts } from "./probe.js";
import type { Session } from "./session.js";
import type { AnyRequest } from "./transport.js";

/** Who a notification is not for. */
export type NotFor<Identity> = AnyRequest | { session: string } | { identity: Identity };

/** Options of `hub.notifier`. */
export interface NotifierOptions<Key, ServerNotif, ClientNotif, Identity> {
  /**
   * Makes what one identity receives from a server notification; `undefined`
   * blocks that identity. Called at most once per notify and identity.
   * @default the server notification itself, unchanged, for everyone
   */
  prepare?: (
    identity: Identity,
    value: ServerNotif,
    key: Key,
  ) => ClientNotif | undefined | Promise<ClientNotif | undefined>;
  /**
   * Validates a key sent by a client; throw to refuse it (400).
   * @default any JSON value is accepted as is
   */
  parseKey?: (raw: unknown) => Key;
  /**
   * May this identity listen to this key? `false` answers 403.
   * @default everyone may listen to everything
   */
  authorize?: (identity: Identity, key: Key) => boolean | Promise<boolean>;
}

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

/** What a notifier needs from its hub. */
export interface NotifierHost {
  listeners(
    topic: string,
  ): { sessions: Set<Session>; byIdentity: Map<string, Set<Session>> } | undefined;
  onError(error: Error, context: object): void;
  /** Ms an async `prepare` may take before it counts as blocking its identity. */
  readonly prepareTimeout: number;
  /** The registry's listen generation now (see `Registry.generation`). */
  generation(): number;
}

/** One notification's fan-out, waiting (or not) for async `prepare` results. */
interface Job {
  /** Async `prepare` results still awaited; the job runs at 0, in its topic's order. */
  pending: number;
  run(): void;
}

export class Delivery<Key, ServerNotif, ClientNotif, Identity> {
  readonly def: NotifierDef<Key, ClientNotif>;
  readonly options: NotifierOptions<Key, ServerNotif, ClientNotif, Identity>;
  /** Read by metrics; `notifies` is counted by the hub's `notify`. */
  readonly counts: NotifierCounts = { notifies: 0, prepareErrors: 0 };
  readonly #host: NotifierHost;
  readonly #eventHead: string;
  /** Per topic, jobs waiting behind an async `prepare` (absent when none). */
  readonly #queues = new Map<string, Job[]>();

  constructor(
    def: NotifierDef<Key, ClientNotif>,
    options: NotifierOptions<Key, ServerNotif, ClientNotif, Identity>,
    host: NotifierHost,
  ) {
    this.def = def;
    this.#eventHead = eventHead(def.name);
    this.options = options;
    this.#host = host;
  }

  /** Delivers a server notification to this node's listeners of `topic` (or `audience.only`). */
  deliver(
    topic: string,
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
  after(topic: string, run: () => void): void {
    this.#schedule(topic, { pending: 0, run });
  }

  /** Without `prepare`: one body for everyone, serialised once. */
  #deliverSimple(
    topic: string,
    keyJson: string,
    value: ServerNotif,
    exclusion: Exclusion,
    sessions: Set<Session>,
    audience: Audience,
  ): void {
    const body = this.#body(keyJson, value, topic, audience);
    if (body === undefined) return;
    if (!this.#queues.has(topic)) {
      this.#send(sessions, topic, body, exclusion, audience);
      return;
    }
    const snapshot = [...sessions]; // behind async work on this key: keep its order
    this.#schedule(topic, {
      pending: 0,
      run: () => this.#send(snapshot, topic, body, exclusion, audience),
    });
  }

  /** With `prepare`: one call and one body per distinct identity; async results keep key order. */
  #deliverPrepared(
    topic: string,
    key: Key,
    keyJson: string,
    value: ServerNotif,
    exclusion: Exclusion,
    listeners: { byIdentity: Map<string, Set<Session>> },
    audience: Audience,
  ): void {
    const prepare = this.options.prepare as NonNullable<typeof this.options.prepare>;
    const queued = this.#queues.has(topic);
    const results: { sessions: Session[]; result: unknown }[] = [];
    for (const [identityId, group] of listeners.byIdentity) {
      if (identityId === exclusion.identity) continue;
      const first: Session | undefined = group.values().next().value;
      let result: unknown;
      try {
        result = prepare(first?.identity as Identity, value, key);
      } catch (error) {
        this.#prepareFailed(error, topic, identityId);
        continue;
      }
      if (queued || isThenable(result)) results.push({ sessions: [...group], result });
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
    this.#schedule(topic, job);
  }

  /**
   * Holds `job` until an identity's async `prepare` settles (a rejection
   * blocks that identity), or `prepareTimeout` passes: one that never settles
   * would hold back every later notify on its key.
   */
  #await(
    topic: string,
    job: Job,
    entry: { sessions: Session[]; result: unknown },
    result: PromiseLike<unknown>,
  ): void {
    job.pending += 1;
    const identityId = entry.sessions[0]?.identityId ?? "";
    let timer: NodeJS.Timeout | undefined;
    const settle = (value: unknown) => {
      if (timer === undefined) return; // settled already (or timed out)
      clearTimeout(timer);
      timer = undefined;
      entry.result = value;
      job.pending -= 1;
      this.#drain(topic);
    };
    const fail = (error: unknown) => {
      if (timer !== undefined) this.#prepareFailed(error, topic, identityId);
      settle(undefined);
    };
    const ms = this.#host.prepareTimeout;
    timer = setTimeout(() => fail(new Error(`prepare did not settle within ${ms} ms`)), ms);
    result.then(settle, fail);
  }

  #schedule(topic: string, job: Job): void {
    const queue = this.#queues.get(topic);
    if (!queue && job.pending === 0) {
      job.run();
      return;
    }
    if (queue) queue.push(job);
    else this.#queues.set(topic, [job]);
    this.#drain(topic);
  }

  #drain(topic: string): void {
    const queue = this.#queues.get(topic);
    if (!queue) return;
    while (queue.length > 0 && queue[0]?.pending === 0) queue.shift()?.run();
    if (queue.length === 0) this.#queues.delete(topic);
  }

  #send(
    sessions: Iterable<Session>,
    topic: string,
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
    topic: string,
    keyJson: string,
    value: unknown,
    exclusion: Exclusion,
    audience: Audience,
  ): void {
    const body = this.#body(keyJson, value, topic, { pos: audience.pos });
    if (body !== undefined) this.#send(sessions, topic, body, exclusion, audience);
  }

  /** The event's text after its id line; JSON.stringify's output is one line, so nothing to check. */
  #body(keyJson: string, value: unknown, topic: string, audience: Audience): string | undefined {
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

  #prepareFailed(error: unknown, topic: string, identityId: string): void {
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

/** Resolves `notfor` to ids. */
export function resolveExclusion<Identity>(
  notfor: NotFor<Identity> | undefined,
  sessionOf: (req: AnyRequest) => string | undefined,
): Exclusion {
  if (notfor === undefined) return {};
  if (typeof notfor !== "object" || notfor === null) {
    throw new TypeError("sse-notif: notfor must be a request, { session } or { identity }");
  }
  if ("headers" in notfor && typeof notfor.headers === "object") {
    const session = sessionOf(notfor as AnyRequest);
    if (session === undefined) return {};
    const tab = (notfor as AnyRequest).headers[TAB_HEADER.toLowerCase()];
    return isTabId(tab) ? { session, tab } : { session };
  }
  if ("session" in notfor) {
    if (typeof notfor.session !== "string")
      throw new TypeError("sse-notif: notfor.session must be a string");
    return { session: notfor.session };
  }
  if ("identity" in notfor) return { identity: canonicalJson(notfor.identity) };
  throw new TypeError("sse-notif: notfor must be a request, { session } or { identity }");
}

// biome-ignore lint/suspicious/noExplicitAny: notifiers of every key and value type live in one map
export type AnyDelivery = Delivery<any, any, any, any>;
