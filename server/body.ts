/**
 * POST bodies: read with a size limit, then checked into typed values. The
 * checks are pure; each fault is a `NotifError` with the protocol's code.
 */

import { canonicalJson } from "../protocol/keys.js";
import { isSessionId, type ListenItem, type SessionId } from "../protocol/wire.js";
import { NotifError, toError } from "./errors.js";
import type { AnyRequest } from "./transport.js";

/** A listen or unlisten request, shape-checked. */
export interface ListenRequest {
  readonly session: SessionId;
  readonly items: readonly ListenItem[];
}

export type { ListenItem };

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/**
 * Reads a JSON body: 415 if not `application/json`, 413 past `maxBytes`,
 * 408 when it has not arrived in full within `timeoutMs`, 400 if not JSON.
 */
export async function readJson(
  req: AnyRequest,
  maxBytes: number,
  timeoutMs = Number.POSITIVE_INFINITY,
): Promise<unknown> {
  if (!JSON_TYPE.test(req.headers["content-type"] ?? "")) {
    throw new NotifError(
      "unsupported_media_type",
      "send the body as Content-Type: application/json",
    );
  }
  const parsed = (req as { body?: unknown }).body;
  if (req.readableEnded && parsed !== undefined) return parsed; // a body parser ran before us
  const declared = Number(req.headers["content-length"]);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const body = await readBody(req, maxBytes, timeoutMs);
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new NotifError("bad_request", "the body is not valid JSON", { cause: error });
  }
}

/** The body's bytes, within `maxBytes` and `timeoutMs`; stops reading at the first fault. */
function readBody(req: AnyRequest, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: NotifError | undefined) => {
      clearTimeout(timer);
      req.off("data", onData).off("end", onEnd).off("error", onCut).off("close", onCut);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else {
        finish(tooLarge(maxBytes));
        req.resume(); // drain the rest without keeping it
      }
    };
    const onEnd = () => finish(undefined);
    const onCut = () => finish(new NotifError("bad_request", "the body was cut off")); // client gone
    const timer = setTimeout(
      () => {
        req.pause(); // no more of it is read: the connection is closed once answered
        finish(new NotifError("request_timeout", `the body did not arrive within ${timeoutMs} ms`));
      },
      Math.min(timeoutMs, 2 ** 31 - 1),
    );
    req.on("data", onData).on("end", onEnd).on("error", onCut).on("close", onCut);
  });
}

function tooLarge(maxBytes: number): NotifError {
  return new NotifError(
    "too_large",
    `the body is over ${maxBytes} bytes; send fewer items at once`,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function badRequest(message: string): NotifError {
  return new NotifError("bad_request", message);
}

function checkSession(body: Record<string, unknown>): SessionId {
  if (!isSessionId(body.session))
    throw badRequest('"session" must be the session id of the stream');
  return body.session;
}

function checkItem(value: unknown, where: string): ListenItem {
  if (!isRecord(value)) throw badRequest(`${where} must be an object`);
  if (typeof value.notifier !== "string") throw badRequest(`${where}.notifier must be a string`);
  if (!("key" in value)) throw badRequest(`${where}.key is missing`);
  if (value.replay !== undefined && typeof value.replay !== "boolean")
    throw badRequest(`${where}.replay must be a boolean`);
  if (!("since" in value)) return { notifier: value.notifier, key: value.key };
  const since = value.since;
  if (since !== null && typeof since !== "string") {
    throw badRequest(`${where}.since must be null or a position (a string from "pos")`);
  }
  const item = { notifier: value.notifier, key: value.key, since };
  return value.replay === true ? { ...item, replay: true } : item;
}

/** `{session, notifier, key}` or `{session, items: [{notifier, key}, …]}`. */
export function parseListenBody(body: unknown): ListenRequest {
  if (!isRecord(body)) throw badRequest("the body must be a JSON object");
  const session = checkSession(body);
  if ("items" in body) {
    if (!Array.isArray(body.items) || body.items.length === 0) {
      throw badRequest('"items" must be a non-empty array of {notifier, key}');
    }
    return { session, items: body.items.map((item, i) => checkItem(item, `items[${i}]`)) };
  }
  return { session, items: [checkItem(body, "the body")] };
}

/** How deep a client's key may nest (arrays and objects). */
export const MAX_KEY_DEPTH = 32;

/**
 * Refuses a client's key nested deeper than {@link MAX_KEY_DEPTH} or whose
 * canonical JSON is over `maxBytes` (UTF-8), with a 400 that says which.
 */
export function checkKey(key: unknown, maxBytes: number, notifier: string): void {
  const where = `the key of ${JSON.stringify(notifier.slice(0, 64))}`;
  if (depthOver(key, MAX_KEY_DEPTH)) {
    throw badRequest(`${where} is nested deeper than ${MAX_KEY_DEPTH} levels`);
  }
  let bytes: number;
  try {
    bytes = Buffer.byteLength(canonicalJson(key), "utf8");
  } catch (error) {
    throw new NotifError("bad_request", `${where} is not JSON: ${toError(error).message}`);
  }
  if (bytes > maxBytes) {
    throw badRequest(
      `${where} is ${bytes} bytes as canonical JSON, over the ${maxBytes} allowed (maxKeyBytes)`,
    );
  }
}

/** Is `value` nested more than `depth` levels? Stops at that depth: no deep recursion. */
function depthOver(value: unknown, depth: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (depth === 0) return true;
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    if (depthOver(item, depth - 1)) return true;
  }
  return false;
}

/** `{session}`. */
export function parseCloseBody(body: unknown): SessionId {
  if (!isRecord(body)) throw badRequest("the body must be a JSON object");
  return checkSession(body);
}
