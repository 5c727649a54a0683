/** `createHub` options, their defaults, and their validation (once, in the factory). */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { Request } from "express";
import { type Bus, inProcessBus } from "./bus.js";

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
  retentionBytes: [1_048_576, 0],
  maxKeyBytes: [1_024, 16],
  maxSessions: [100_000, 1],
  maxSessionsPerIdentity: [100, 1],
  bodyTimeout: [10_000, 1],
} as const;

type NumberOption = keyof typeof NUMBERS;

/** Fills defaults and throws a `TypeError` at once on a bad option. */
export function resolveOptions<Identity>(options: HubOptions<Identity>): ResolvedOptions<Identity> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("sse-notif: createHub takes an options object");
  }
  const numbers = {} as Record<NumberOption, number>;
  for (const name of Object.keys(NUMBERS) as NumberOption[]) {
    const [fallback, min] = NUMBERS[name];
    const value = options[name] ?? fallback;
    if (!Number.isSafeInteger(value) || value < min) {
      throw new TypeError(
        `sse-notif: option ${name} must be a whole number ≥ ${min}, not ${value}`,
      );
    }
    numbers[name] = value;
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
  return { ...numbers, identify, onError, bus, stats: options.stats ?? true };
}

function defaultOnError(error: Error, context: object): void {
  console.error("sse-notif:", error, context);
}
