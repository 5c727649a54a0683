/**
 * The wire protocol shared by server and client: paths, headers, bodies,
 * events and error codes. No I/O here.
 */

/** Header by which a client names its session on ordinary requests (for `notfor`). */
export const SESSION_HEADER = "X-Notif-Session";

/**
 * Header by which a tab that shares its session with other tabs (SPEC §7)
 * names itself, so that `notfor: req` leaves out that tab only: the session
 * still gets the event, its data marked `"notfor":"<tab>"`.
 */
export const TAB_HEADER = "X-Notif-Tab";

/** Router-relative paths. */
export const PATHS = {
  events: "/events",
  listen: "/listen",
  unlisten: "/unlisten",
  close: "/close",
  stats: "/stats",
} as const;

/** A session id: opaque, at least 128 random bits, never contains `:`. */
export type SessionId = string & { readonly __brand: "SessionId" };

/** What the server says of a stream when it opens. */
export type SessionStatus = "new" | "resumed" | "gap";

/**
 * Data of the `session` event: the first event of a stream, and later an
 * in-stream `"gap"` naming in `lost` the keys a node could not recover (SPEC §5.8).
 */
export interface SessionEventData {
  readonly session: string;
  readonly status: SessionStatus;
  readonly lost?: readonly LostKey[];
}

/** Data of a notification event; `pos` is the key's position (SPEC §6). */
export interface NotificationEventData {
  readonly key: unknown;
  readonly data: unknown;
  readonly pos?: string;
  /** The tab of this session that `notfor: req` left out (see {@link TAB_HEADER}). */
  readonly notfor?: string;
}

/** One `(notifier, key)` of a listen or unlisten body; `since` asks for a position (SPEC §6). */
export interface ListenItem {
  readonly notifier: string;
  readonly key: unknown;
  readonly since?: string | null;
  /**
   * With a `since` position: replay after it even when the session listens
   * to the key already (a tab of a shared session that joined late, §7).
   */
  readonly replay?: boolean;
}

/** A key whose notifications may have been missed. */
export interface LostKey {
  readonly notifier: string;
  readonly key: unknown;
}

/** One item of a `200` answer to a `/listen` with `since`. */
export interface ListenAnswer {
  readonly pos: string;
  readonly recovered: boolean | null;
}

/** Type guard for a `200` answer to a `/listen` of `count` items. */
export function isListenAnswers(
  value: unknown,
  count: number,
): value is { items: readonly ListenAnswer[] } {
  if (typeof value !== "object" || value === null) return false;
  const items = (value as { items?: unknown }).items;
  return (
    Array.isArray(items) &&
    items.length === count &&
    items.every(
      (item: unknown) =>
        typeof item === "object" &&
        item !== null &&
        typeof (item as ListenAnswer).pos === "string" &&
        [true, false, null].includes((item as ListenAnswer).recovered),
    )
  );
}

/** The `lost` keys of a `session` event, or `undefined` when it has none or they are ill-formed. */
export function lostKeys(value: unknown): LostKey[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const keys: LostKey[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== "object" || item === null) return undefined;
    const { notifier, key } = item as { notifier?: unknown; key?: unknown };
    if (typeof notifier !== "string" || !("key" in item)) return undefined;
    keys.push({ notifier, key });
  }
  return keys;
}

/** Body of `POST /listen` and `POST /unlisten`, single or batched. */
export type ListenBody =
  | { readonly session: string; readonly notifier: string; readonly key: unknown }
  | { readonly session: string; readonly items: readonly ListenItem[] };

/** Error codes of the JSON error answers. */
export type ErrorCode =
  | "bad_request"
  | "forbidden"
  | "unknown_notifier"
  | "not_found"
  | "unknown_session"
  | "too_large"
  | "unsupported_media_type"
  | "too_many_keys"
  | "too_many_sessions"
  | "request_timeout"
  | "unavailable"
  | "timeout"
  | "internal";

/** HTTP status of each error code. */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  forbidden: 403,
  unknown_notifier: 404,
  not_found: 404,
  unknown_session: 410,
  too_large: 413,
  unsupported_media_type: 415,
  too_many_keys: 429,
  too_many_sessions: 429,
  request_timeout: 408,
  unavailable: 503,
  timeout: 504,
  internal: 500,
};

/** True for a code of this protocol version (a newer node may send others). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_STATUS, value);
}

/** Body of an error answer. */
export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

const SESSION_ID = /^[A-Za-z0-9_.-]{1,128}$/;

/** True when `value` has the shape of a session id (not that it exists). */
export function isSessionId(value: unknown): value is SessionId {
  return typeof value === "string" && SESSION_ID.test(value);
}

/** A tab id: same shape as a session id (so it needs no escaping in JSON). */
export type TabId = string & { readonly __brand: "TabId" };

/** True when `value` has the shape of a tab id. */
export function isTabId(value: unknown): value is TabId {
  return typeof value === "string" && SESSION_ID.test(value);
}

/** A parsed SSE event id, `<session>:<seq>`. */
export interface EventId {
  readonly session: SessionId;
  readonly seq: number;
}

/** Formats an event id. */
export function formatEventId(session: SessionId, seq: number): string {
  return `${session}:${seq}`;
}

/** Parses `<session>:<seq>`; `undefined` when malformed. */
export function parseEventId(text: unknown): EventId | undefined {
  if (typeof text !== "string") return undefined;
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return undefined;
  const session = text.slice(0, colon);
  const digits = text.slice(colon + 1);
  if (!isSessionId(session) || !/^(0|[1-9][0-9]{0,15})$/.test(digits)) return undefined;
  const seq = Number(digits);
  if (!Number.isSafeInteger(seq)) return undefined;
  return { session, seq };
}

/** Type guard for an error answer's body. */
export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== "object" || value === null) return false;
  const error = (value as { error?: unknown }).error;
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "string" &&
    typeof (error as { message?: unknown }).message === "string"
  );
}

/** Parses JSON text; `undefined` when it is not a string of JSON. */
export function parseJson(text: unknown): unknown {
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
