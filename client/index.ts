/** sse-notif/client: the client of a hub, for browsers and Node. */

export {
  createNotifClient,
  type EventSourceConstructor,
  type EventSourceLike,
  type LostKey,
  type NotifClient,
  type NotifClientOptions,
  type NotifErrorContext,
  type NotifState,
  type NotifStatus,
} from "./client.js";
export { defineNotifier, type KeyOf, type NotifierDef, type NotifOf } from "./contract.js";
export { RequestError } from "./listens.js";
export type { SessionStatus } from "./protocol.js";
