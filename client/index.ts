/** sse-notif/client: the client of a hub, for browsers and Node. */

export type {
  EventSourceConstructor,
  EventSourceLike,
  LostKey,
  NotifClient,
  NotifClientOptions,
  NotifErrorContext,
  NotifState,
  NotifStatus,
} from "./client.js";
export { defineNotifier, type KeyOf, type NotifierDef, type NotifOf } from "./contract.js";
export { createNotifClient } from "./create.js";
export { RequestError } from "./listens.js";
export type { SessionStatus } from "./protocol.js";
export { onShare, type ShareInfo } from "./share.js";
