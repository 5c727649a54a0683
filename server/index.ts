/** sse-notif/server: the hub, its Express router, and the bus interface. */
export { defineNotifier, type NotifierDef } from "../protocol/contract.js";
export { type Bus, type BusContext, type BusStatus, InProcessBroker, inProcessBus } from "./bus.js";
export { NotifError } from "./errors.js";
export { createHub, type Hub, type HubStats } from "./hub.js";
export type { NotFor, Notifier } from "./notifier.js";
export type { HubOptions, IdentifyRequest, NotifierOptions } from "./options.js";
export type { AnyRequest, AnyResponse } from "./transport.js";
