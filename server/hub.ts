/**
 * `createHub`: the public face of a hub. It composes the pieces (core.ts,
 * router.ts for HTTP, a delivery.ts and a notifier.ts per notifier); nothing
 * imports it but the entry points.
 */
import express, { type Router } from "express";
import type { NotifierDef } from "../protocol/contract.js";
import { SESSION_HEADER } from "../protocol/wire.js";
import type { BusStatus } from "./bus.js";
import { HubCore } from "./core.js";
import { Delivery, type DeliveryHost } from "./delivery.js";
import { checkNotifierName, makeNotifier, type Notifier, type NotifierHost } from "./notifier.js";
import { type HubOptions, type NotifierOptions, resolveOptions } from "./options.js";
import { attachProbe, type NotifyObserver } from "./probe.js";
import { type Handle, makeHandle } from "./router.js";
import type { AnyRequest, AnyResponse } from "./transport.js";

/** What `hub.stats()` and `GET /stats` show. No session id or identity. */
export interface HubStats {
  /** Live sessions on this node, with or without an open stream. */
  sessions: number;
  /** Open streams. */
  streams: number;
  /** Distinct (notifier, key) with at least one listener here. */
  keys: number;
  /** (session, notifier, key) triples. */
  listens: number;
  /** Notification events written. */
  sent: number;
  /** Events a session never got (evicted before resume, or lost with a cut stream). */
  dropped: number;
  bus: BusStatus;
}

/** One per server process: client sessions, notifiers, the Express router. */
export interface Hub<Identity> {
  /** The Express router to mount: `app.use("/notif", hub.router())`. */
  router(): Router;
  /**
   * The same endpoints for a bare `node:http` or `node:http2` server (TLS or
   * h2c, with or without `allowHTTP1`), under `prefix`: returns whether it
   * served the request, so that anything else can fall through. On HTTP/2
   * each stream has its own backpressure.
   * @example http.createServer((req, res) => hub.handler("/notif")(req, res) || app(req, res));
   * @example http2.createSecureServer({ key, cert, allowHTTP1: true }, (req, res) => serve(req, res) || res.writeHead(404).end());
   */
  handler(prefix?: string): (req: AnyRequest, res: AnyResponse) => boolean;
  /** Serves a notifier; a second notifier of one name throws. */
  notifier<Key, ClientNotif, ServerNotif = ClientNotif>(
    def: NotifierDef<Key, ClientNotif>,
    options?: NotifierOptions<Key, ServerNotif, ClientNotif, Identity>,
  ): Notifier<Key, ServerNotif, ClientNotif, Identity>;
  /** The session a request comes from (its `X-Notif-Session` header). */
  sessionOf(req: AnyRequest): string | undefined;
  stats(): HubStats;
  /** Ends every stream and session here (clients reconnect elsewhere) and leaves the bus. */
  close(): Promise<void>;
}

/**
 * Creates a hub.
 * @example
 * const hub = createHub({ identify: (req) => req.cookies.user ?? null });
 * app.use("/notif", hub.router());
 * const chat = hub.notifier(chatDef);
 */
export function createHub<Identity = null>(options: HubOptions<Identity> = {}): Hub<Identity> {
  const core = new HubCore<Identity>(resolveOptions(options));
  const observers = observerList();
  const stats = () => statsOf(core);
  const handle = makeHandle(core, stats);
  const deliveries = deliveryHost(core);
  const notifiers = notifierHost(core, observers.current);
  let router: Router | undefined;
  const hub: Hub<Identity> = {
    router: () => (router ??= expressRouter(handle)),
    handler: (prefix = "") => prefixed(handle, prefix),
    notifier(def, notifierOptions = {}) {
      checkNotifierName(def.name, core.deliveries.has(def.name));
      const delivery = new Delivery(def, notifierOptions, deliveries);
      core.deliveries.set(def.name, delivery);
      return makeNotifier(delivery, notifiers);
    },
    sessionOf,
    stats,
    close: () => core.close(),
  };
  return attachProbe(hub, {
    stats,
    cuts: core.sessions.cuts,
    recoveries: core.recoveries,
    notifiers: () => [...core.deliveries].map(([name, d]) => [name, d.counts] as const),
    observeNotifies: observers.add,
  });
}

/** The session a request comes from (its `X-Notif-Session` header). */
function sessionOf(req: AnyRequest): string | undefined {
  const value = req.headers[SESSION_HEADER.toLowerCase()];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function statsOf<Identity>(core: HubCore<Identity>): HubStats {
  const { registry } = core;
  return {
    sessions: registry.sessionCount,
    streams: core.sessions.streams,
    keys: registry.topicCount,
    listens: registry.listenCount,
    sent: core.sessions.sent,
    dropped: core.sessions.dropped,
    bus: core.options.bus.status(),
  };
}

/** Notify-duration observers (metrics): empty, so free, unless someone collects. */
function observerList() {
  let observers: readonly NotifyObserver[] = [];
  return {
    current: () => observers,
    add(observer: NotifyObserver): () => void {
      observers = [...observers, observer];
      return () => {
        observers = observers.filter((o) => o !== observer);
      };
    },
  };
}

/** What every delivery of a hub needs of it. */
function deliveryHost<Identity>(core: HubCore<Identity>): DeliveryHost {
  return {
    listeners: (topic) => core.registry.listeners(topic),
    onError: core.options.onError,
    prepareTimeout: core.options.prepareTimeout,
    generation: () => core.registry.generation,
  };
}

/** What every notifier of a hub needs of it. */
function notifierHost<Identity>(
  core: HubCore<Identity>,
  observers: () => readonly NotifyObserver[],
): NotifierHost {
  return {
    get closing() {
      return core.closing;
    },
    broadcast: (delivery, topic, key, value, notfor) =>
      core.broadcast.notify(delivery, topic, key, value, notfor),
    unlistenIdentity: (notifier, topic, key, identity) =>
      core.broadcast.unlistenIdentity(notifier, topic, key, identity),
    route: (request) => core.route(request),
    listenerCount: (topic) => core.registry.listeners(topic)?.sessions.size ?? 0,
    sessionOf,
    observers,
  };
}

/** The path of a request URL, without its query. */
function pathOf(url = "/"): string {
  const end = url.indexOf("?");
  return end < 0 ? url : url.slice(0, end);
}

/** The hub's endpoints as an Express router (which strips its mount path from `req.url`). */
function expressRouter(handle: Handle): Router {
  return express.Router().use((req, res, next) => {
    if (!handle(req, res, pathOf(req.url))) next();
  });
}

/** The hub's endpoints under `prefix`, for a bare `node:http` or `node:http2` server. */
function prefixed(handle: Handle, prefix: string): (req: AnyRequest, res: AnyResponse) => boolean {
  const base = prefix.replace(/\/+$/, "");
  return (req, res) => {
    const path = pathOf(req.url);
    if (!path.startsWith(`${base}/`)) return false;
    return handle(req, res, path.slice(base.length));
  };
}
