/**
 * A client with a stream of its own (`createNotifClient` without sharing,
 * and the tab holding a shared stream): composes the stream and its
 * reconnection (stream.ts), the listens kept in step with the server
 * (listens.ts), the `on` handlers, the status and `client.fetch`. Runs in
 * browsers (native EventSource) and in Node (the `eventsource` package,
 * passed in or found).
 */

import type { NotifierDef } from "../protocol/contract.js";
import { toError } from "../protocol/to-error.js";
import { type LostKey, PATHS, parseJson, SESSION_HEADER } from "../protocol/wire.js";
import type { NotifClient, NotifClientOptions } from "./api.js";
import { type Handlers, makeHandlers } from "./handlers.js";
import type { HandOver } from "./handover.js";
import { Listens } from "./listens.js";
import { beaconSpeaksForOther, mayNameSession } from "./origin.js";
import {
  type BackoffOptions,
  type Clock,
  makeBackoff,
  realClock,
  resolveBackoff,
} from "./reconnect.js";
import { makePost, makeSend, type Post } from "./requests.js";
import { watchPageHide } from "./source.js";
import {
  defaultOnError,
  makeStatus,
  type NotifErrorContext,
  type NotifStatus,
  type StatusChange,
} from "./status.js";
import { makeStream, type Opening, type Stream, type StreamOptions } from "./stream.js";

export type { NotifClient, NotifClientOptions } from "./api.js";
export type { EventSourceConstructor, EventSourceLike } from "./source.js";
export type { LostKey, NotifErrorContext, NotifState, NotifStatus } from "./status.js";

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
  const parts = makeParts(resolveConfig(options), clock);
  const unwatchPageHide =
    options.pageHide === false ? () => {} : watchPageHide((event) => onPageHide(parts, event));
  parts.stream.start();
  return clientOf(parts, unwatchPageHide);
}

/** The options, resolved once. */
interface Config {
  readonly options: StreamClientOptions;
  readonly base: string;
  readonly fetch: typeof fetch;
  readonly headers: Record<string, string>;
  readonly credentials: RequestCredentials;
  readonly backoff: BackoffOptions;
  readonly onError: (error: Error, context: NotifErrorContext) => void;
}

function resolveConfig(options: StreamClientOptions): Config {
  if (typeof options?.url !== "string")
    throw new TypeError("sse-notif: createNotifClient needs a url");
  return {
    options,
    base: options.url.replace(/\/+$/, ""),
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    headers: options.headers ?? {},
    credentials: options.withCredentials ? "include" : "same-origin",
    backoff: resolveBackoff(options.reconnect),
    onError: options.onError ?? defaultOnError,
  };
}

/** What a stream client is made of. */
interface Parts {
  readonly config: Config;
  readonly stream: Stream;
  readonly listens: Listens;
  readonly handlers: Handlers;
  readonly statuses: Set<(status: NotifStatus) => void>;
  /** Tells the `onStatus` handlers. */
  emit(change?: StatusChange): void;
  /** Ends a session on the server, if it can. */
  sendClose(session: string): void;
}

function makeParts(config: Config, clock: Clock): Parts {
  const { onError } = config;
  const post = makePost(config.base, config.fetch, config.headers, config.credentials);
  const listens = makeListens(config, clock, post, () => stream.restart(true));
  const stream = makeStream(streamOptions(config, clock), {
    opened: (session, opening, lost) => onOpened(parts, session, opening, lost),
    gap: (lost) => parts.emit({ gap: true, lost }),
    event: (name, data) => dispatch(parts, name, data),
    forgotten: () => listens.dropSession(),
    connecting: () => parts.emit(),
    error: (error) => onError(error, { type: "stream" }),
  });
  const statuses = new Set<(status: NotifStatus) => void>();
  const parts: Parts = {
    config,
    stream,
    listens,
    handlers: makeHandlers((error, name) =>
      onError(toError(error), { type: "handler", notifier: name }),
    ),
    statuses,
    emit(change) {
      const status = makeStatus(stream.state, stream.session, change);
      for (const handler of [...statuses]) handler(status);
    },
    sendClose(session) {
      post(PATHS.close, { session }).catch(() => {}); // the session expires anyway
    },
  };
  return parts;
}

function streamOptions(config: Config, clock: Clock): StreamOptions {
  const { options } = config;
  const init = {
    withCredentials: options.withCredentials ?? false,
    headers: config.headers,
    fetch: config.fetch,
  };
  return {
    base: config.base,
    EventSource: options.EventSource,
    init,
    backoff: config.backoff,
    clock,
  };
}

function makeListens(config: Config, clock: Clock, post: Post, sessionLost: () => void): Listens {
  const { onError } = config;
  return new Listens({
    send: makeSend(post),
    sessionLost,
    error: (error, item) =>
      onError(error, item ? { type: "refused", ...item } : { type: "request" }),
    backoff: makeBackoff(config.backoff, clock),
    clock,
    handOver: config.options.handOver,
  });
}

/** A `session` event opened the stream: the listens follow the session, then the status says. */
function onOpened(
  parts: Parts,
  session: string,
  opening: Opening,
  lost: LostKey[] | undefined,
): void {
  const { listens, stream } = parts;
  const fresh = opening === "new";
  const ready = listens.useSession(session, fresh);
  if (!fresh) {
    stream.healthy();
    const gap = opening === "gap";
    parts.emit({ resumed: !gap, gap, lost: gap ? (lost ?? listens.wanted()) : [] });
    return;
  }
  // A new session reports once it listens again, so that a refetch on gap misses nothing.
  void ready.then((report) => {
    if (stream.session !== session || stream.state !== "open") return;
    stream.healthy(); // a healthy session: listening on everything it could
    parts.emit(
      report && { recovered: report.recovered, gap: !report.recovered, lost: report.lost },
    );
  });
}

/** A notification: its position noted, then the handlers called. */
function dispatch(parts: Parts, name: string, text: unknown): void {
  const data = parseJson(text) as { key: unknown; data: unknown; pos?: unknown } | undefined;
  if (!data) return;
  parts.listens.observe(name, data.key, data.pos);
  parts.handlers.call(name, data.key, data.data);
}

/** The page goes: the session ends; back from the page cache, a new one recovers. */
function onPageHide(parts: Parts, event: PageTransitionEvent): void {
  const { session } = parts.stream;
  if (session === undefined) return;
  const { base, options } = parts.config;
  const body = new Blob([JSON.stringify({ session })], { type: "application/json" });
  const beacon = !beaconSpeaksForOther(base, options.withCredentials === true);
  if (!beacon || !navigator.sendBeacon?.(base + PATHS.close, body)) parts.sendClose(session);
  if (event.persisted) parts.stream.restart(true);
}

function clientOf(parts: Parts, unwatchPageHide: () => void): StreamClient {
  const { stream, listens, handlers, statuses } = parts;
  return {
    listen(def, key) {
      stream.subscribe(def.name);
      return listens.listen(def, key);
    },
    unlisten: (def, key) => listens.unlisten(def, key),
    position: (def, key) => listens.position(def, key),
    on(def, handler) {
      stream.subscribe(def.name);
      return handlers.add(def.name, handler as (key: unknown, value: unknown) => void);
    },
    session: () => stream.session,
    state: () => stream.state,
    onStatus(handler) {
      statuses.add(handler);
      return () => {
        statuses.delete(handler);
      };
    },
    fetch: (input, init) => sessionFetch(parts, input, init),
    reconnect() {
      if (stream.state === "closed") return;
      if (stream.session !== undefined) parts.sendClose(stream.session);
      stream.restart(true);
    },
    close() {
      unwatchPageHide();
      close(parts);
    },
  };
}

/** `client.fetch`: the client's headers and credentials, and the session where it may go. */
function sessionFetch(
  parts: Parts,
  input: string | URL | Request,
  init: RequestInit = {},
): Promise<Response> {
  const { headers: extra, options, credentials } = parts.config;
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(extra))
    if (!headers.has(name)) headers.set(name, value);
  const { session } = parts.stream;
  if (session !== undefined && mayNameSession(input, options.url))
    headers.set(SESSION_HEADER, session);
  return parts.config.fetch(input, {
    ...init,
    headers,
    credentials: init.credentials ?? credentials,
  });
}

function close(parts: Parts): void {
  const { session } = parts.stream;
  if (!parts.stream.close()) return;
  parts.listens.close();
  if (session !== undefined) parts.sendClose(session);
  parts.emit();
}
