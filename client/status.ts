/**
 * The connection status a client reports to `onStatus` handlers and
 * `createNotifStatus`: state, session, and what a reconnection cost.
 */
import type { LostKey } from "../protocol/wire.js";

export type { LostKey } from "../protocol/wire.js";

/** Connection state. */
export type NotifState = "connecting" | "open" | "closed";

/** What `onStatus` handlers get. */
export interface NotifStatus {
  readonly state: NotifState;
  readonly session: string | undefined;
  /** The stream continued its session: nothing was missed. */
  readonly resumed: boolean;
  /**
   * A new session replaced a lost one (node gone, hub restarted, session
   * expired) and the server replayed, by position, everything every key
   * missed: nothing was missed.
   */
  readonly recovered: boolean;
  /** Notifications may have been missed: refetch what you show of the keys in `lost`. */
  readonly gap: boolean;
  /**
   * With `gap`, the keys that may have missed notifications, and the keys
   * whose automatic re-listen was refused (no longer listened to; they also
   * go to `onError`). Empty otherwise.
   */
  readonly lost: readonly LostKey[];
}

/** What a status says beyond state and session. */
export type StatusChange = Partial<Pick<NotifStatus, "resumed" | "recovered" | "gap" | "lost">>;

/** A status: nothing resumed, recovered or lost unless `change` says so. */
export function makeStatus(
  state: NotifState,
  session: string | undefined,
  change: StatusChange = {},
): NotifStatus {
  return { state, session, resumed: false, recovered: false, gap: false, lost: [], ...change };
}

/** Why the client called its `onError`. */
export type NotifErrorContext =
  /** A key refused when the client listened again on a new session: it is in `lost`, no longer listened to. */
  | { readonly type: "refused"; readonly notifier: string; readonly key: unknown }
  /** A listen or unlisten failed (network, 5xx): retried with backoff. */
  | { readonly type: "request" }
  /** A handler given to `client.on` threw. */
  | { readonly type: "handler"; readonly notifier: string }
  /** No EventSource could be found. */
  | { readonly type: "stream" };

/** Reports to the page (`reportError`) or the console; failed requests are retried, not reported. */
export function defaultOnError(error: Error, context: NotifErrorContext): void {
  if (context.type === "request") return;
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (report) report(error);
  else console.error(error);
}
