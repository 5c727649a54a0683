/** `createHub`: the public face of a hub and of its notifiers. */
import express, { type Router } from "express";
import { type NotifierDef, RESERVED_NAMES } from "../protocol/contract.js";
import { canonicalJson, topicOf } from "../protocol/keys.js";
import { isSessionId, SESSION_HEADER } from "../protocol/wire.js";
import type { BusStatus } from "./bus.js";
import { HubCore } from "./core.js";
import { NotifError } from "./errors.js";
import { Delivery, type NotFor, type NotifierOptions, resolveExclusion } from "./delivery.js";
import { type HubOptions, resolveOptions } from "./options.js";
import { attachProbe, type HubProbe, type NotifyObserver } from "./probe.js";
import { makeHandle } from "./router.js";
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

/** The path of a request URL, without its query. */
function pathOf(url = "/"): string {
  const end = url.indexOf("?");
  return end < 0 ? url : url.slice(0, end);
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
  const bus = core.options.bus;
  const handle = makeHandle(core, stats);
  let router: Router | undefined;
  /** Notify-duration observers (metrics); empty unless someone collects. */
  let observers: readonly NotifyObserver[] = [];

  function sessionOf(req: AnyRequest): string | undefined {
    const value = req.headers[SESSION_HEADER.toLowerCase()];
    return typeof value === "string" && value !== "" ? value : undefined;
  }

  function stats(): HubStats {
    const { registry } = core;
    return {
      sessions: registry.sessionCount,
      streams: core.sessions.streams,
      keys: registry.topicCount,
      listens: registry.listenCount,
      sent: core.sessions.sent,
      dropped: core.sessions.dropped,
      bus: bus.status(),
    };
  }

  function notifier<Key, ClientNotif, ServerNotif = ClientNotif>(
    def: NotifierDef<Key, ClientNotif>,
    notifierOptions: NotifierOptions<Key, ServerNotif, ClientNotif, Identity> = {},
  ): Notifier<Key, ServerNotif, ClientNotif, Identity> {
    if (core.deliveries.has(def.name)) {
      throw new TypeError(`sse-notif: this hub already has a notifier named "${def.name}"`);
    }
    if (RESERVED_NAMES.has(def.name)) {
      throw new TypeError(
        `sse-notif: "${def.name}" is reserved: define notifiers with defineNotifier`,
      );
    }
    const delivery = new Delivery(def, notifierOptions, {
      listeners: (topic) => core.registry.listeners(topic),
      onError: core.options.onError,
      prepareTimeout: core.options.prepareTimeout,
      generation: () => core.registry.generation,
    });
    core.deliveries.set(def.name, delivery);
    const topic = (key: Key) => topicOf(def.name, def.keyId(key));
    /** A trusted request from server code, routed to the node holding the session. */
    const request = async (op: "listen" | "unlisten", sessionId: string, key: Key) => {
      if (!isSessionId(sessionId))
        throw new TypeError(`sse-notif: ${JSON.stringify(sessionId)} is not a session id`);
      await core.route({ op, session: sessionId, items: [{ notifier: def.name, key }] });
    };
    return {
      def,
      async notify(key, value, { notfor } = {}) {
        if (core.closing) throw new NotifError("unavailable", "the hub is closed");
        if (value === undefined)
          throw new TypeError("sse-notif: notify needs a value (undefined is not JSON)");
        const exclusion = resolveExclusion(notfor, sessionOf);
        delivery.counts.notifies += 1;
        if (observers.length === 0)
          return core.fanout.notify(delivery, topic(key), key, value, exclusion);
        const started = performance.now();
        try {
          await core.fanout.notify(delivery, topic(key), key, value, exclusion);
        } finally {
          const seconds = (performance.now() - started) / 1e3;
          for (const observe of observers) observe(def.name, seconds);
        }
      },
      listen: (sessionId, key) => request("listen", sessionId, key),
      unlisten: (sessionId, key) => request("unlisten", sessionId, key),
      unlistenIdentity: async (identity, key) =>
        core.fanout.unlistenIdentity(def.name, topic(key), key, canonicalJson(identity)),
      listeners: (key) => core.registry.listeners(topic(key))?.sessions.size ?? 0,
    };
  }

  const probe: HubProbe = {
    stats,
    cuts: core.sessions.cuts,
    recoveries: core.recoveries,
    notifiers: () => [...core.deliveries].map(([name, d]) => [name, d.counts] as const),
    observeNotifies(observer) {
      observers = [...observers, observer];
      return () => {
        observers = observers.filter((o) => o !== observer);
      };
    },
  };

  return attachProbe<Hub<Identity>>(
    {
      router() {
        // The router strips its mount path from req.url.
        router ??= express.Router().use((req, res, next) => {
          if (!handle(req, res, pathOf(req.url))) next();
        });
        return router;
      },
      handler(prefix = "") {
        const base = prefix.replace(/\/+$/, "");
        return (req, res) => {
          const path = pathOf(req.url);
          if (!path.startsWith(`${base}/`)) return false;
          return handle(req, res, path.slice(base.length));
        };
      },
      notifier,
      sessionOf,
      stats,
      close: () => core.close(),
    },
    probe,
  );
}
