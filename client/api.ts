/**
 * The public face of a client: {@link NotifClient}, whether its stream is its
 * own or shared with other tabs, and the options of `createNotifClient`.
 */
import type { NotifierDef } from "../protocol/contract.js";
import type { BackoffOptions } from "./reconnect.js";
import type { EventSourceConstructor } from "./source.js";
import type { NotifErrorContext, NotifState, NotifStatus } from "./status.js";

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
