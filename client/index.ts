/** sse-notif/client: the client of a hub, for browsers and Node. */

export {
  defineNotifier,
  type KeyOf,
  type NotifierDef,
  type NotifOf,
} from "../protocol/contract.js";
export type { SessionStatus } from "../protocol/wire.js";
export type { NotifClient, NotifClientOptions } from "./api.js";
export { createNotifClient } from "./create.js";
export { RequestError } from "./listens.js";
export { onShare, type ShareInfo } from "./share.js";
export type { EventSourceConstructor, EventSourceLike } from "./source.js";
export type { LostKey, NotifErrorContext, NotifState, NotifStatus } from "./status.js";
