/**
 * Where a notification starts: the public `Notifier` that `hub.notifier(def)`
 * returns. `notify` checks its arguments, resolves `notfor` to ids and hands
 * the notification to the bus (broadcast.ts); `listen`, `unlisten` and
 * `unlistenIdentity` are server code's own requests on sessions.
 */
import { type NotifierDef, RESERVED_NAMES } from "../protocol/contract.js";
import { type Topic, topicOf } from "../protocol/keys.js";
import { isSessionId, isTabId, TAB_HEADER } from "../protocol/wire.js";
import type { AnyDelivery, Delivery } from "./delivery.js";
import { NotifError } from "./errors.js";
import { type IdentityId, identityIdOf } from "./ids.js";
import type { Exclusion, SessionRequest } from "./messages.js";
import type { NotifyObserver } from "./probe.js";
import type { AnyRequest } from "./transport.js";

/** Who a notification is not for. */
export type NotFor<Identity> = AnyRequest | { session: string } | { identity: Identity };

/** A notifier on a hub: notify its listeners, manage listens from the server. */
export interface Notifier<Key, ServerNotif, ClientNotif, Identity> {
  readonly def: NotifierDef<Key, ClientNotif>;
  /**
   * Sends `value` to every session listening on `key` (through `prepare`).
   * Resolves once queued locally and accepted by the bus.
   * @example await chat.notify({ room: "a" }, { from: "ann", text: "hi" }, { notfor: req });
   */
  notify(key: Key, value: ServerNotif, options?: { notfor?: NotFor<Identity> }): Promise<void>;
  /** Makes a session listen to `key`, as `POST /listen` would. */
  listen(sessionId: string, key: Key): Promise<void>;
  /** Stops a session listening to `key`. */
  unlisten(sessionId: string, key: Key): Promise<void>;
  /** Stops every session of `identity` listening to `key`, on every node. */
  unlistenIdentity(identity: Identity, key: Key): Promise<void>;
  /** Sessions listening to `key` on this node. */
  listeners(key: Key): number;
}

/** What a notifier needs of its hub. */
export interface NotifierHost {
  /** `hub.close()` was called: no notify any more. */
  readonly closing: boolean;
  /** Sends a notification over the bus (broadcast.ts). */
  broadcast(
    delivery: AnyDelivery,
    topic: Topic,
    key: unknown,
    value: unknown,
    notfor: Exclusion,
  ): Promise<void>;
  /** Stops every session of an identity listening to a topic, on every node. */
  unlistenIdentity(
    notifier: string,
    topic: Topic,
    key: unknown,
    identity: IdentityId,
  ): Promise<void>;
  /** Applies a request where its session lives (server code's own: trusted). */
  route(request: SessionRequest): Promise<unknown>;
  /** Sessions listening to a topic here. */
  listenerCount(topic: Topic): number;
  sessionOf(req: AnyRequest): string | undefined;
  /** Notify-duration observers now (metrics); empty, so free, unless someone collects. */
  observers(): readonly NotifyObserver[];
}

/** Throws when a hub may not serve a notifier of this name. */
export function checkNotifierName(name: string, taken: boolean): void {
  if (taken) throw new TypeError(`sse-notif: this hub already has a notifier named "${name}"`);
  if (RESERVED_NAMES.has(name)) {
    throw new TypeError(`sse-notif: "${name}" is reserved: define notifiers with defineNotifier`);
  }
}

/** The public notifier of a delivery. */
export function makeNotifier<Key, ServerNotif, ClientNotif, Identity>(
  delivery: Delivery<Key, ServerNotif, ClientNotif, Identity>,
  host: NotifierHost,
): Notifier<Key, ServerNotif, ClientNotif, Identity> {
  const { def } = delivery;
  const topic = (key: Key) => topicOf(def.name, def.keyId(key));
  /** A trusted request from server code, routed to the node holding the session. */
  const request = async (op: "listen" | "unlisten", sessionId: string, key: Key) => {
    if (!isSessionId(sessionId))
      throw new TypeError(`sse-notif: ${JSON.stringify(sessionId)} is not a session id`);
    await host.route({ op, session: sessionId, items: [{ notifier: def.name, key }] });
  };
  return {
    def,
    notify: async (key, value, { notfor } = {}) =>
      notify(host, delivery, topic, key, value, notfor),
    listen: (sessionId, key) => request("listen", sessionId, key),
    unlisten: (sessionId, key) => request("unlisten", sessionId, key),
    unlistenIdentity: async (identity, key) =>
      host.unlistenIdentity(def.name, topic(key), key, identityIdOf(identity)),
    listeners: (key) => host.listenerCount(topic(key)),
  };
}

async function notify<Key, ServerNotif, Identity>(
  host: NotifierHost,
  delivery: AnyDelivery,
  topic: (key: Key) => Topic,
  key: Key,
  value: ServerNotif,
  notfor: NotFor<Identity> | undefined,
): Promise<void> {
  if (host.closing) throw new NotifError("unavailable", "the hub is closed");
  if (value === undefined)
    throw new TypeError("sse-notif: notify needs a value (undefined is not JSON)");
  const exclusion = resolveExclusion(notfor, host.sessionOf);
  delivery.counts.notifies += 1;
  if (host.observers().length === 0)
    return host.broadcast(delivery, topic(key), key, value, exclusion);
  const started = performance.now();
  try {
    await host.broadcast(delivery, topic(key), key, value, exclusion);
  } finally {
    const seconds = (performance.now() - started) / 1e3;
    for (const observe of host.observers()) observe(delivery.def.name, seconds);
  }
}

/** Resolves `notfor` to ids. */
export function resolveExclusion<Identity>(
  notfor: NotFor<Identity> | undefined,
  sessionOf: (req: AnyRequest) => string | undefined,
): Exclusion {
  if (notfor === undefined) return {};
  if (typeof notfor !== "object" || notfor === null) {
    throw new TypeError("sse-notif: notfor must be a request, { session } or { identity }");
  }
  if ("headers" in notfor && typeof notfor.headers === "object") {
    const session = sessionOf(notfor as AnyRequest);
    if (session === undefined) return {};
    const tab = (notfor as AnyRequest).headers[TAB_HEADER.toLowerCase()];
    return isTabId(tab) ? { session, tab } : { session };
  }
  if ("session" in notfor) {
    if (typeof notfor.session !== "string")
      throw new TypeError("sse-notif: notfor.session must be a string");
    return { session: notfor.session };
  }
  if ("identity" in notfor) return { identity: identityIdOf(notfor.identity) };
  throw new TypeError("sse-notif: notfor must be a request, { session } or { identity }");
}
