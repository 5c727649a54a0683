/**
 * `createNotifClient`: one SSE stream per client, its session, resume,
 * recovery by position on a new session, reconnection with backoff, and the
 * listens kept in step with the server. Runs in browsers (native
 * EventSource) and in Node (the `eventsource` package, passed in or found).
 */

import type { NotifierDef } from "../protocol/contract.js";
import { toError } from "../protocol/to-error.js";
import {
  lostKeys,
  PATHS,
  parseJson,
  SESSION_HEADER,
  type SessionEventData,
} from "../protocol/wire.js";
import { makeHandlers } from "./handlers.js";
import { type HandOver, Listens } from "./listens.js";
import { beaconSpeaksForOther, mayNameSession } from "./origin.js";
import {
  type BackoffOptions,
  type Clock,
  makeBackoff,
  realClock,
  resolveBackoff,
} from "./reconnect.js";
import { makePost, makeSend } from "./requests.js";
import {
  type EventSourceConstructor,
  type EventSourceLike,
  globalEventSource,
  loadEventSource,
  openSource,
  watchPageHide,
} from "./source.js";
import {
  defaultOnError,
  makeStatus,
  type NotifErrorContext,
  type NotifState,
  type NotifStatus,
  type StatusChange,
} from "./status.js";

export type { EventSourceConstructor, EventSourceLike } from "./source.js";
export type { LostKey, NotifErrorContext, NotifState, NotifStatus } from "./status.js";

/** Options of {@link createNotifClient}. */
export interface NotifClientOptions {
  /** Where the router is mounted: `"/notif"` or `"http://host/notif"`. */
  url: string;
  /**
   * EventSource implementation.
   * @default `globalThis.EventSource`, else the `eventsource` package
   */
  EventSource?: EventSourceConstructor;
  /**
   * fetch implementation for listen, unlisten and close.
   * @default `globalThis.fetch`
   */
  fetch?: typeof fetch;
  /**
   * Headers sent with every request, the stream's too where the EventSource
   * takes a `fetch` option (the `eventsource` package does; browsers send cookies instead).
   * @default {}
   */
  headers?: Record<string, string>;
  /**
   * Send cookies cross-origin (EventSource `withCredentials`, fetch `credentials: "include"`).
   * @default false
   */
  withCredentials?: boolean;
  /**
   * Reconnection and retry delays: after n failures in a row (network, 5xx,
   * a session gone again and again) the client waits a random time below
   * `min(maxRetry, retry × 2ⁿ)`; set `retry` to the hub's.
   * @default { retry: 2_000, maxRetry: 30_000, jitter: true }
   */
  reconnect?: Partial<BackoffOptions>;
  /**
   * Errors that do not belong to one call: a key refused when the client
   * listened again by itself on a new session (it is also in the status's
   * `lost`), a failed request being retried, a handler that threw.
   * @default `reportError` (the console), failed requests ignored (they are retried)
   */
  onError?: (error: Error, context: NotifErrorContext) => void;
  /**
   * Share one stream and one session among the tabs of this origin that use
   * the same `url` (SPEC §7): one tab holds the EventSource, the others get
   * their events from it over `BroadcastChannel`. Without `navigator.locks`
   * or `BroadcastChannel` (Node, old browsers), each client has its own stream.
   * @default true where `navigator.locks` and `BroadcastChannel` exist
   */
  share?: boolean;
}

/** Options of {@link createStreamClient}: share.ts's, for the tab that holds the stream. */
export interface StreamClientOptions extends NotifClientOptions {
  /**
   * End the session on `pagehide` (and start anew when the page comes back).
   * Off for the tab holding a shared stream: it hands the stream over instead.
   * @default true
   */
  pageHide?: boolean;
  /**
   * This client takes over a session another tab held (share.ts): the
   * positions to recover from if it is gone, what the server may hold if not.
   */
  handOver?: HandOver;
}

/** A stream client, as the tab holding a shared stream uses it. */
export interface StreamClient extends NotifClient {
  /** Where the client stands on `key` (SPEC §6): its position, `null` when none is known. */
  position<K>(def: NotifierDef<K, unknown>, key: K): string | null;
}

/** A connection to a hub. */
export interface NotifClient {
  /** Listens to `key` (reference-counted); resolves once the server confirmed. */
  listen<K>(def: NotifierDef<K, unknown>, key: K): Promise<void>;
  /** Drops one reference; at zero, stops listening. */
  unlisten<K>(def: NotifierDef<K, unknown>, key: K): Promise<void>;
  /** Calls `handler` for every notification of `def`; returns the function that stops it. */
  on<K, N>(def: NotifierDef<K, N>, handler: (key: K, value: N) => void): () => void;
  session(): string | undefined;
  state(): NotifState;
  onStatus(handler: (status: NotifStatus) => void): () => void;
  /** fetch that adds `X-Notif-Session` (so the server can use `notfor: req`). */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /**
   * Ends the session and starts a new one, listening again to everything:
   * call it after a login or logout, since a session keeps the identity it
   * was opened with. Tabs sharing a session all move to the new one.
   */
  reconnect(): void;
  /** Closes the stream and ends the session on the server. */
  close(): void;
}

/**
 * A client with a stream of its own (`createNotifClient` without sharing).
 * @example
 * const client = createStreamClient({ url: "/notif" });
 */
export function createStreamClient(options: StreamClientOptions): StreamClient {
  return makeStreamClient(options, realClock);
}

/** {@link createStreamClient} on a given clock (tests replace timers and randomness). */
export function makeStreamClient(options: StreamClientOptions, clock: Clock): StreamClient {
  if (typeof options?.url !== "string")
    throw new TypeError("sse-notif: createNotifClient needs a url");
  const base = options.url.replace(/\/+$/, "");
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const extraHeaders = options.headers ?? {};
  const credentials: RequestCredentials = options.withCredentials ? "include" : "same-origin";
  const backoff = resolveBackoff(options.reconnect);
  const onError = options.onError ?? defaultOnError;
  const handlers = makeHandlers((error, name) =>
    onError(toError(error), { type: "handler", notifier: name }),
  );
  /** Event names the stream delivers: of `on` handlers and of listened notifiers. */
  const names = new Set<string>();
  const statusHandlers = new Set<(status: NotifStatus) => void>();
  let source: EventSourceLike | undefined;
  let state: NotifState = "connecting";
  let session: string | undefined;
  let lastEventId: string | undefined;
  let reopenTimer: unknown;
  const reconnect = makeBackoff(backoff, clock);
  const post = makePost(base, doFetch, extraHeaders, credentials);

  const listens = new Listens({
    send: makeSend(post),
    sessionLost: () => restart(true),
    error: (error, item) =>
      onError(error, item ? { type: "refused", ...item } : { type: "request" }),
    backoff: makeBackoff(backoff, clock),
    clock,
    handOver: options.handOver,
  });

  function emit(change?: StatusChange): void {
    const status = makeStatus(state, session, change);
    for (const handler of [...statusHandlers]) handler(status);
  }

  function onSession(event: MessageEvent): void {
    const data = parseJson(event.data) as SessionEventData | undefined;
    if (!data || typeof data.session !== "string") return;
    lastEventId = event.lastEventId;
    const lost = lostKeys(data.lost);
    if (data.status === "gap" && lost && data.session === session && state === "open") {
      emit({ gap: true, lost }); // in-stream: a node could not fill a hole
      return;
    }
    session = data.session;
    state = "open";
    const fresh = data.status !== "resumed" && data.status !== "gap";
    const ready = listens.useSession(session, fresh);
    if (!fresh) {
      reconnect.reset();
      const gap = data.status === "gap";
      emit({ resumed: !gap, gap, lost: gap ? (lost ?? listens.wanted()) : [] });
      return;
    }
    // A new session reports once it listens again, so that a refetch on gap misses nothing.
    const id = session;
    void ready.then((report) => {
      if (session !== id || state !== "open") return;
      reconnect.reset(); // a healthy session: listening on everything it could
      emit(report && { recovered: report.recovered, gap: !report.recovered, lost: report.lost });
    });
  }

  function dispatch(name: string, event: MessageEvent): void {
    lastEventId = event.lastEventId;
    const data = parseJson(event.data) as
      | { key: unknown; data: unknown; pos?: unknown }
      | undefined;
    if (!data) return;
    listens.observe(name, data.key, data.pos);
    handlers.call(name, data.key, data.data);
  }

  function useName(name: string): void {
    if (names.has(name)) return;
    names.add(name);
    if (source) subscribeName(source, name);
  }

  function subscribeName(target: EventSourceLike, name: string): void {
    target.addEventListener(name, (event) => {
      if (target === source) dispatch(name, event);
    });
  }

  function open(): void {
    const Impl = options.EventSource ?? globalEventSource();
    if (!Impl) {
      loadEventSource().then(
        (found) => {
          options.EventSource = found;
          if (state !== "closed") open();
        },
        (error: Error) => onError(error, { type: "stream" }),
      );
      return;
    }
    const target = openSource(Impl, base, lastEventId, {
      withCredentials: options.withCredentials ?? false,
      headers: extraHeaders,
      fetch: doFetch,
    });
    source = target;
    target.addEventListener("session", (event) => {
      if (target === source) onSession(event);
    });
    target.addEventListener("error", () => {
      if (target === source) restart(false);
    });
    for (const name of names) subscribeName(target, name);
  }

  /**
   * Replaces the stream after a backoff delay, whatever failed (the client
   * reconnects by itself rather than at the EventSource's fixed `retry`);
   * `fresh` forgets the session (it is gone on the server).
   */
  function restart(fresh: boolean): void {
    if (state === "closed") return;
    source?.close();
    source = undefined;
    if (fresh) {
      lastEventId = undefined;
      session = undefined;
      listens.dropSession();
    }
    if (state === "open") {
      state = "connecting";
      emit();
    }
    clock.clearTimeout(reopenTimer);
    reopenTimer = clock.setTimeout(() => state !== "closed" && open(), reconnect.next());
  }

  function close(): void {
    if (state === "closed") return;
    state = "closed";
    clock.clearTimeout(reopenTimer);
    source?.close();
    source = undefined;
    listens.close();
    if (session !== undefined) sendClose(session);
    session = undefined;
    emit();
  }

  function sendClose(id: string): void {
    post(PATHS.close, { session: id }).catch(() => {}); // the session expires anyway
  }

  const onPageHide = (event: PageTransitionEvent): void => {
    if (session === undefined) return;
    const body = new Blob([JSON.stringify({ session })], { type: "application/json" });
    const beacon = !beaconSpeaksForOther(base, options.withCredentials === true);
    if (!beacon || !navigator.sendBeacon?.(base + PATHS.close, body)) sendClose(session);
    if (event.persisted) restart(true); // back from the page cache: a new session, recovering
  };
  const unwatchPageHide = options.pageHide === false ? () => {} : watchPageHide(onPageHide);

  open();

  return {
    listen(def, key) {
      useName(def.name);
      return listens.listen(def, key);
    },
    unlisten: (def, key) => listens.unlisten(def, key),
    position: (def, key) => listens.position(def, key),
    on(def, handler) {
      useName(def.name);
      return handlers.add(def.name, handler as (key: unknown, value: unknown) => void);
    },
    session: () => session,
    state: () => state,
    onStatus(handler) {
      statusHandlers.add(handler);
      return () => {
        statusHandlers.delete(handler);
      };
    },
    fetch(input, init = {}) {
      const headers = new Headers(init.headers);
      for (const [name, value] of Object.entries(extraHeaders))
        if (!headers.has(name)) headers.set(name, value);
      if (session !== undefined && mayNameSession(input, options.url))
        headers.set(SESSION_HEADER, session);
      return doFetch(input, { ...init, headers, credentials: init.credentials ?? credentials });
    },
    reconnect() {
      if (state === "closed") return;
      if (session !== undefined) sendClose(session);
      restart(true);
    },
    close() {
      unwatchPageHide();
      close();
    },
  };
}
