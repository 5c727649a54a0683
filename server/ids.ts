/**
 * The server's own ids, each made by one function here: a node's id on the
 * bus, a session's id (which names its node), an identity's id. Ids that come
 * back over the bus are branded only by the parsers that check them
 * (messages.ts); a topic is made by `topicOf` (protocol/keys.ts).
 */
import { randomBytes } from "node:crypto";
import { canonicalJson } from "../protocol/keys.js";
import type { SessionId } from "../protocol/wire.js";

/** A hub's id on the bus: its messages name it, and its session ids start with it. */
export type NodeId = string & { readonly __brand: "NodeId" };

/** An identity's canonical JSON: equal identities, whatever their key order, have one id. */
export type IdentityId = string & { readonly __brand: "IdentityId" };

/** A new node id: 48 random bits. */
export function newNodeId(): NodeId {
  return randomBytes(6).toString("base64url") as NodeId;
}

/** A new, unguessable session id: the node id, a dot, 144 random bits. */
export function newSessionId(node: NodeId): SessionId {
  return `${node}.${randomBytes(18).toString("base64url")}` as SessionId;
}

/** The node that holds a session (its id's prefix before the dot); `undefined` when it names none. */
export function nodeOf(session: SessionId): NodeId | undefined {
  const dot = session.indexOf(".");
  return dot > 0 ? (session.slice(0, dot) as NodeId) : undefined;
}

/**
 * The id of an identity: its canonical JSON.
 * @throws TypeError when the identity is not JSON.
 * @example identityIdOf({ user: "ann", org: 1 }) // '{"org":1,"user":"ann"}'
 */
export function identityIdOf(identity: unknown): IdentityId {
  return canonicalJson(identity) as IdentityId;
}

/** The id of the anonymous identity (`identify` returned `null` or nothing). */
export const ANONYMOUS: IdentityId = identityIdOf(null);

/**
 * Is this the `node` field of a bus message? Any string: a node only ever
 * compares it with its own id, and answers to the channel it names.
 */
export function isNodeId(value: unknown): value is NodeId {
  return typeof value === "string";
}
