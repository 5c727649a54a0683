/**
 * Messages between hubs on the bus. Every message names its sending node, so
 * a node drops its own echo. Parsing is strict: a malformed message is
 * refused (and reported by the hub), never trusted.
 */
import type { Topic } from "../protocol/keys.js";
import {
  type ErrorCode,
  isErrorCode,
  isSessionId,
  isTabId,
  type SessionId,
} from "../protocol/wire.js";
import type { ListenItem } from "./body.js";
import { type IdentityId, isNodeId, type NodeId } from "./ids.js";

/** `notfor` resolved to ids, as it crosses the bus. */
export interface Exclusion {
  readonly session?: string;
  readonly identity?: IdentityId;
  /**
   * With `session`: only this tab of the session is left out (the request
   * came from a tab sharing the session, SPEC §7); the session still gets the
   * event, marked for that tab.
   */
  readonly tab?: string;
}

export type Op = "listen" | "unlisten" | "close";

/** A request on a session, as it may travel between nodes (JSON). */
export interface SessionRequest {
  readonly op: Op;
  readonly session: SessionId;
  /**
   * Canonical JSON of the caller's identity. Absent for server code's own
   * calls (`notifier.listen`), which are trusted: no identity check, no
   * `parseKey`, no `authorize`.
   */
  readonly identityId?: IdentityId;
  readonly items: readonly ListenItem[];
}

/** What a `/listen` with `since` answers (SPEC §6): one item per request item, in order. */
export interface ListenAnswers {
  readonly items: readonly { readonly pos: string; readonly recovered: boolean | null }[];
}

/** A server notification, published once on its topic's channel. */
export interface NotifyMessage {
  readonly type: "notify";
  readonly node: NodeId;
  /** Counts up per sending node: tells a node its own echo. */
  readonly id: number;
  readonly notifier: string;
  readonly key: unknown;
  readonly value: unknown;
  readonly notfor: Exclusion;
  /** Its position in the key's history, added by the bus that kept it (absent without history). */
  readonly pos?: string;
}

/** `unlistenIdentity`, published on the topic's channel: every node applies it. */
export interface UnlistenIdentityMessage {
  readonly type: "unlistenIdentity";
  readonly node: NodeId;
  readonly notifier: string;
  readonly key: unknown;
  readonly identity: IdentityId;
}

export type TopicMessage = NotifyMessage | UnlistenIdentityMessage;

/** The channel of a topic's notifications. */
export function topicChannel(topic: Topic): string {
  return `t:${topic}`;
}

/**
 * The topic of a topic channel, or `undefined` for another channel. Only
 * `topicChannel` makes a `t:` channel, so what follows is a topic.
 */
export function channelTopic(channel: string): Topic | undefined {
  return channel.startsWith("t:") ? (channel.slice(2) as Topic) : undefined;
}

/** The channel of requests and replies addressed to one node. */
export function nodeChannel(node: NodeId): string {
  return `n:${node}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isExclusion(value: unknown): value is Exclusion {
  if (!isRecord(value)) return false;
  return (
    (value.session === undefined || typeof value.session === "string") &&
    (value.identity === undefined || typeof value.identity === "string") &&
    (value.tab === undefined || (isTabId(value.tab) && typeof value.session === "string"))
  );
}

/** Parses a topic channel message; throws a `TypeError` saying what is wrong. */
export function parseTopicMessage(text: string): TopicMessage {
  const value: unknown = JSON.parse(text);
  if (!isRecord(value) || !isNodeId(value.node) || typeof value.notifier !== "string") {
    throw new TypeError("bus message without node or notifier");
  }
  if (!("key" in value)) throw new TypeError("bus message without key");
  switch (value.type) {
    case "notify":
      if (!("value" in value) || !isExclusion(value.notfor) || !Number.isSafeInteger(value.id)) {
        throw new TypeError("notify message without value or with a bad notfor");
      }
      if (value.pos !== undefined && typeof value.pos !== "string")
        throw new TypeError("notify message with a pos that is not a string");
      return value as unknown as NotifyMessage;
    case "unlistenIdentity":
      if (typeof value.identity !== "string")
        throw new TypeError("unlistenIdentity without identity");
      return value as unknown as UnlistenIdentityMessage;
    default:
      throw new TypeError(`unknown bus message type ${JSON.stringify(value.type)}`);
  }
}

/** A request on a session, sent to the node that holds it. */
export interface RequestMessage {
  readonly type: "request";
  readonly node: NodeId;
  readonly id: number;
  readonly request: SessionRequest;
}

/** The answer to a {@link RequestMessage}: nothing, or the error to answer the client with. */
export interface ReplyMessage {
  readonly type: "reply";
  readonly node: NodeId;
  readonly id: number;
  readonly error?: { readonly code: ErrorCode; readonly message: string };
  /** A `/listen` with `since`: its answer items. */
  readonly items?: readonly { readonly pos: string; readonly recovered: boolean | null }[];
}

export type NodeMessage = RequestMessage | ReplyMessage;

const OPS = new Set(["listen", "unlisten", "close"]);

function isSessionRequest(value: unknown): value is SessionRequest {
  if (!isRecord(value) || !OPS.has(value.op as string) || !isSessionId(value.session)) return false;
  if (value.identityId !== undefined && typeof value.identityId !== "string") return false;
  return (
    Array.isArray(value.items) &&
    value.items.every(
      (item) =>
        isRecord(item) &&
        typeof item.notifier === "string" &&
        "key" in item &&
        (item.since === undefined || item.since === null || typeof item.since === "string") &&
        (item.replay === undefined || typeof item.replay === "boolean"),
    )
  );
}

function isAnswerItems(value: unknown): boolean {
  return (
    Array.isArray(value) &&
    value.every(
      (item) =>
        isRecord(item) &&
        typeof item.pos === "string" &&
        (item.recovered === null || typeof item.recovered === "boolean"),
    )
  );
}

/** Longest error message passed on from another node. */
const MAX_MESSAGE = 1_000;

/**
 * A reply's error as this node can answer it: a code this version does not
 * know (sent by a newer node during a rolling upgrade) becomes `internal`.
 */
function replyError(code: string, text: string): ReplyMessage["error"] {
  const message = text.slice(0, MAX_MESSAGE);
  if (isErrorCode(code)) return { code, message };
  const unknown = JSON.stringify(code.slice(0, 64));
  return {
    code: "internal",
    message: `the node holding this session failed (${unknown}): ${message}`,
  };
}

/** Parses a node channel message; throws a `TypeError` saying what is wrong. */
export function parseNodeMessage(text: string): NodeMessage {
  const value: unknown = JSON.parse(text);
  if (!isRecord(value) || !isNodeId(value.node) || !Number.isSafeInteger(value.id)) {
    throw new TypeError("node message without node or id");
  }
  switch (value.type) {
    case "request":
      if (!isSessionRequest(value.request))
        throw new TypeError("request message with a bad request");
      return value as unknown as RequestMessage;
    case "reply": {
      const error = value.error;
      if (value.items !== undefined && !isAnswerItems(value.items))
        throw new TypeError("reply message with bad items");
      if (error === undefined) return value as unknown as ReplyMessage;
      const code = isRecord(error) ? error.code : undefined;
      const message = isRecord(error) ? error.message : undefined;
      if (typeof code !== "string" || typeof message !== "string")
        throw new TypeError("reply message with a bad error");
      const reply = { type: "reply", node: value.node, id: value.id as number } as const;
      return { ...reply, error: replyError(code, message) };
    }
    default:
      throw new TypeError(`unknown node message type ${JSON.stringify(value.type)}`);
  }
}
