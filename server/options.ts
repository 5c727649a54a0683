/**
 * The options of `createHub`, their defaults and their validation (once, in
 * the factory), and the options of `hub.notifier`.
 */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { Request } from "express";
import { type Bus, inProcessBus } from "./bus.js";
import type { HistoryLimits } from "./history.js";

/** `createHub({ history })`: per-key history and positions (SPEC §6). */
export interface HistoryOptions {
  /**
   * Notifications kept per (notifier, key).
   * @default 100
   */
  size?: number;
  /**
   * Ms a key's history is kept after its latest notify.
   * @default 120_000
   */
  ttl?: number;
  /**
   * In-process bus only: bytes of history over all keys together (oldest out first).
   * @default 67_108_864 (64 MiB)
   */
  maxBytes?: number;
}

/**
 * What `identify` is given: an Express `Request` under `hub.router()`; under
 * `hub.handler()`, the server's own request, a bare `IncomingMessage`
 * (`node:http`, or `node:http2` with `allowHTTP1` for an HTTP/1.1 client) or
 * an `Http2ServerRequest`. `req.headers` (cookies, authorization) works on
 * every one of them.
 */
export type IdentifyRequest = Request | IncomingMessage | Http2ServerRequest;

/** Options of `createHub`. */
export interface HubOptions<Identity> {
  /**
   * Who the client is, from its request (cookie, header, …); sync or async.
   * Sessions are bound to the identity that opened them. The request is an
   * Express `Request` under `hub.router()`, a bare `node:http` or `node:http2`
   * request under `hub.handler()` (see {@link IdentifyRequest}).
   * @default every client is `null`
   * @example identify: (req) => req.headers.cookie?.match(/user=(\w+)/)?.[1] ?? null
   */
  identify?: (req: IdentifyRequest) => Identity | Promise<Identity>;
  /**
   * What carries notifications between server processes.
   * @default in-process: one server
   */
  bus?: Bus;
  /**
   * Ms a session with no open stream is kept, waiting for its client to resume.
   * @default 30_000
   */
  sessionTimeout?: number;
  /**
   * Ms between keep-alive comments on every stream.
   * @default 15_000
   */
  heartbeat?: number;
  /**
   * Reconnection delay sent to clients (`retry:`), ms.
   * @default 2_000
   */
  retry?: number;
  /**
   * Events kept per session so that a reconnecting client misses nothing.
   * @default 1_000
   */
  retention?: number;
  /**
   * Distinct `(notifier, key)` a session may listen to, all notifiers together.
   * @default 1_000
   */
  maxKeysPerSession?: number;
  /**
   * Unsent bytes per stream before the stream is cut (the client resumes).
   * @default 1_048_576 (1 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * Largest accepted POST body, bytes.
   * @default 16_384
   */
  maxBodyBytes?: number;
  /**
   * Serve `GET /stats`.
   * @default true
   */
  stats?: boolean;
  /**
   * Where faults go that are nobody's caller's: a throwing `prepare` or
   * `identify`, the bus, a malformed bus message.
   * @default `console.error`
   */
  onError?: (error: Error, context: object) => void;
  /**
   * Ms a `/listen` forwarded to the node holding the session waits for its answer.
   * @default 5_000
   */
  requestTimeout?: number;
  /**
   * Ms an async `prepare` may take; after that it blocks that identity for
   * that notify (reported to `onError`), so that later notifies on the key go on.
   * @default 10_000
   */
  prepareTimeout?: number;
  /**
   * Per-key history on the bus, so that a client recovers by position what it
   * missed, across the death or restart of the node holding its session, and
   * a node fills what its bus connection missed (SPEC §6). `false`: no
   * history and no `pos` in notifications. A custom bus without history
   * operations keeps none either.
   * @default { size: 100, ttl: 120_000, maxBytes: 64 MiB }
   */
  history?: HistoryOptions | false;
  /**
   * Ms over which `hub.close()` ends its streams, spread evenly, so that
   * clients reconnect to the other nodes gradually; 0 ends them at once.
   * @default 2_000
   */
  closeWindow?: number;
  /**
   * Bytes (UTF-8) of event text kept per session for resume, on top of the
   * `retention` count: past it the oldest events go, and a resume that needs
   * them says `gap`.
   * @default 1_048_576 (1 MiB)
   */
  retentionBytes?: number;
  /**
   * Bytes (UTF-8) of a key's canonical JSON, in a client's `/listen` or
   * `/unlisten`: over it the request is a `400 bad_request`.
   * @default 1_024
   */
  maxKeyBytes?: number;
  /**
   * Live sessions on this node (with or without an open stream): a
   * `GET /events` that would start one more answers `429 too_many_sessions`.
   * Resuming a live session is always allowed.
   * @default 100_000
   */
  maxSessions?: number;
  /**
   * Live sessions on this node of one non-null identity: a `GET /events` that
   * would start one more for it answers `429 too_many_sessions`. Anonymous
   * (`null`) clients are bounded by `maxSessions` only.
   * @default 100
   */
  maxSessionsPerIdentity?: number;
  /**
   * Ms a POST body may take to arrive in full; then `408 request_timeout` and
   * the connection (HTTP/1.1) or stream (HTTP/2) is closed.
   * @default 10_000
   */
  bodyTimeout?: number;
}

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

/** Options with every default filled in. */
export interface ResolvedOptions<Identity> {
  readonly identify: (req: IdentifyRequest) => Identity | Promise<Identity>;
  readonly bus: Bus;
  readonly sessionTimeout: number;
  readonly heartbeat: number;
  readonly retry: number;
  readonly retention: number;
  readonly maxKeysPerSession: number;
  readonly maxBufferedBytes: number;
  readonly maxBodyBytes: number;
  readonly stats: boolean;
  readonly onError: (error: Error, context: object) => void;
  readonly requestTimeout: number;
  readonly prepareTimeout: number;
  /** Absent with `history: false`. */
  readonly history: HistoryLimits | undefined;
  readonly closeWindow: number;
  readonly retentionBytes: number;
  readonly maxKeyBytes: number;
  readonly maxSessions: number;
  readonly maxSessionsPerIdentity: number;
  readonly bodyTimeout: number;
}

const NUMBERS = {
  sessionTimeout: [30_000, 1],
  heartbeat: [15_000, 1],
  retry: [2_000, 0],
  retention: [1_000, 0],
  maxKeysPerSession: [1_000, 1],
  maxBufferedBytes: [1_048_576, 1],
  maxBodyBytes: [16_384, 64],
  requestTimeout: [5_000, 1],
  prepareTimeout: [10_000, 1],
  closeWindow: [2_000, 0],
  retentionBytes: [1_048_576, 0],
  maxKeyBytes: [1_024, 16],
  maxSessions: [100_000, 1],
  maxSessionsPerIdentity: [100, 1],
  bodyTimeout: [10_000, 1],
} as const;

const HISTORY = { size: [100, 1], ttl: [120_000, 1], maxBytes: [64 * 1024 * 1024, 1] } as const;

function wholeNumber(name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`sse-notif: option ${name} must be a whole number ≥ ${min}, not ${value}`);
  }
  return value;
}

/** `history` resolved: `undefined` for `false`, else every bound filled in. */
function resolveHistory(history: HistoryOptions | false | undefined): HistoryLimits | undefined {
  if (history === false) return undefined;
  const given = history === undefined ? {} : history;
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    throw new TypeError("sse-notif: option history must be false or { size?, ttl?, maxBytes? }");
  }
  for (const name of Object.keys(given)) {
    if (!(name in HISTORY)) throw new TypeError(`sse-notif: unknown option history.${name}`);
  }
  const [size, ttl, maxBytes] = (["size", "ttl", "maxBytes"] as const).map((name) => {
    const [fallback, min] = HISTORY[name];
    return wholeNumber(`history.${name}`, given[name] ?? fallback, min);
  }) as [number, number, number];
  return { size, ttl, maxBytes };
}

type NumberOption = keyof typeof NUMBERS;

/** Fills defaults and throws a `TypeError` at once on a bad option. */
export function resolveOptions<Identity>(options: HubOptions<Identity>): ResolvedOptions<Identity> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("sse-notif: createHub takes an options object");
  }
  const numbers = {} as Record<NumberOption, number>;
  for (const name of Object.keys(NUMBERS) as NumberOption[]) {
    const [fallback, min] = NUMBERS[name];
    numbers[name] = wholeNumber(name, options[name] ?? fallback, min);
  }
  const identify = options.identify ?? (() => null as Identity);
  if (typeof identify !== "function")
    throw new TypeError("sse-notif: option identify must be a function");
  const onError = options.onError ?? defaultOnError;
  if (typeof onError !== "function")
    throw new TypeError("sse-notif: option onError must be a function");
  const bus = options.bus ?? inProcessBus();
  if (typeof bus.publish !== "function" || typeof bus.subscribe !== "function") {
    throw new TypeError("sse-notif: option bus must implement the Bus interface");
  }
  const history = resolveHistory(options.history);
  return { ...numbers, identify, onError, bus, history, stats: options.stats ?? true };
}

function defaultOnError(error: Error, context: object): void {
  console.error("sse-notif:", error, context);
}
