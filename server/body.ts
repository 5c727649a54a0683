/**
 * POST bodies: read with a size limit, then checked into typed values. The
 * checks are pure; each fault is a `NotifError` with the protocol's code.
 */

import { isSessionId, type SessionId } from "../client/protocol.js";
import { NotifError } from "./errors.js";
import type { AnyRequest } from "./transport.js";

/** A listen or unlisten request, shape-checked. */
export interface ListenRequest {
  readonly session: SessionId;
  readonly items: readonly ListenItem[];
}

/** One item: `since` is absent, `null` (asks the key's position) or a position's text. */
export interface ListenItem {
  readonly notifier: string;
  readonly key: unknown;
  readonly since?: string | null;
}

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/** Reads a JSON body: 415 if not `application/json`, 413 past `maxBytes`, 400 if not JSON. */
export async function readJson(req: AnyRequest, maxBytes: number): Promise<unknown> {
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
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        req.resume(); // drain the rest without keeping it
        throw tooLarge(maxBytes);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof NotifError) throw error;
    throw new NotifError("bad_request", "the body was cut off", { cause: error }); // client gone
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (error) {
    throw new NotifError("bad_request", "the body is not valid JSON", { cause: error });
  }
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
  if (!("since" in value)) return { notifier: value.notifier, key: value.key };
  const since = value.since;
  if (since !== null && typeof since !== "string") {
    throw badRequest(`${where}.since must be null or a position (a string from "pos")`);
  }
  return { notifier: value.notifier, key: value.key, since };
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

/** `{session}`. */
export function parseCloseBody(body: unknown): SessionId {
  if (!isRecord(body)) throw badRequest("the body must be a JSON object");
  return checkSession(body);
}
