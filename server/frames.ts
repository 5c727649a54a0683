/**
 * Every byte of SSE text
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html): a
 * notification's event body (delivery.ts), the session head and `gap`
 * events (sessions.ts, recovery.ts), id lines and heartbeats. Pure: no I/O.
 * Data is always single-line JSON, so nothing in it can start a new SSE
 * field; names and ids are validated.
 */
import { NOTIFIER_NAME } from "../protocol/contract.js";

const SAFE_ID = /^[^\r\n\0]*$/;

/** `retry:` field telling clients how long to wait before reconnecting. */
export function retryFrame(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`retry must be a whole ms count`);
  return `retry: ${ms}\n\n`;
}

/** A comment line (heartbeat). Newlines in `text` would end it, so they are refused. */
export function commentFrame(text = ""): string {
  if (!SAFE_ID.test(text)) throw new TypeError("an SSE comment cannot hold CR, LF or NUL");
  return `:${text}\n\n`;
}

/**
 * The part of an event after its `id:` line: `event:` and `data:` lines and
 * the blank line that ends it. Built once per notification and shared by
 * every session that gets it.
 *
 * @param event a notifier name (validated)
 * @param json single-line JSON text (as `JSON.stringify` makes it)
 */
export function eventBody(event: string, json: string): string {
  if (json.includes("\n") || json.includes("\r")) {
    throw new TypeError("SSE data must be single-line JSON");
  }
  return `${eventHead(event)}${json}\n\n`;
}

/** `event: <event>\ndata: `, for bodies built many times from `JSON.stringify` output. */
export function eventHead(event: string): string {
  if (!NOTIFIER_NAME.test(event))
    throw new TypeError(`invalid SSE event name ${JSON.stringify(event)}`);
  return `event: ${event}\ndata: `;
}

/**
 * The `data` JSON of a notification, `{"key":…,"data":…,"pos":"…"}`, from
 * already-serialised parts; without `pos` (no history) `{"key":…,"data":…}`.
 * A position is `[0-9a-z]+-[0-9]+` (positions.ts), so it needs no escaping.
 */
export function notificationJson(keyJson: string, dataJson: string, pos?: string): string {
  if (pos === undefined) return `{"key":${keyJson},"data":${dataJson}}`;
  return `{"key":${keyJson},"data":${dataJson},"pos":"${pos}"}`;
}

/** The `session` event a session gets when notifications on these keys were lost (SPEC §5.8). */
export function gapEventBody(
  session: string,
  lost: readonly { readonly notifier: string; readonly key: unknown }[],
): string {
  const items = lost.map(({ notifier, key }) => ({ notifier, key }));
  return eventBody("session", JSON.stringify({ session, status: "gap", lost: items }));
}

/**
 * A notification body (as {@link notificationJson} and `eventHead` make it)
 * marked for one tab of its session: `"notfor":"<tab>"` added to its data, so
 * that the tab holding the shared stream relays it to the other tabs only.
 * @param tab a tab id (`isTabId`: nothing in it needs escaping)
 */
export function markNotFor(body: string, tab: string): string {
  if (!body.endsWith("}\n\n")) throw new TypeError("not a notification body");
  return `${body.slice(0, -3)},"notfor":${JSON.stringify(tab)}}\n\n`;
}

/** An `id:` line. */
export function idLine(id: string): string {
  if (!SAFE_ID.test(id)) throw new TypeError("an SSE id cannot hold CR, LF or NUL");
  return `id: ${id}\n`;
}

/** `id: <session>:`, to which a stream appends each event's seq and a newline. */
export function idPrefix(session: string): string {
  return idLine(`${session}:`).slice(0, -1);
}

/** One event as a stream writes it: its id line (`prefix` from {@link idPrefix}, then `seq`) and its body. */
export function eventFrame(prefix: string, seq: number, body: string): string {
  return `${prefix}${seq}\n${body}`;
}

/**
 * A notification's body from its parts: `head` from {@link eventHead}, the
 * key's and the value's JSON (`JSON.stringify` output: one line), and its position.
 */
export function notificationBody(head: string, keyJson: string, dataJson: string, pos?: string) {
  return `${head}${notificationJson(keyJson, dataJson, pos)}\n\n`;
}
