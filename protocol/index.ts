/**
 * sse-notif (the `.` entry point): what server and client code share, the
 * typed notifier definition. Internals (name patterns, canonical JSON, the
 * wire types) stay in `protocol/` and out of this barrel.
 */
export {
  defineNotifier,
  type KeyOf,
  type NotifierDef,
  type NotifierDefOptions,
  type NotifOf,
} from "./contract.js";
