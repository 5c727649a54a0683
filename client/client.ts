/**
 * `createNotifClient`: one SSE stream per client, its session, resume, and
 * the listens kept in step with the server. Runs in browsers (native
 * EventSource) and in Node (the `eventsource` package, passed in or found).
 */
import type { NotifierDef } from "./contract.js";
import { Listens, RequestError, type Send } from "./listens.js";
import {
  isErrorBody,
  type ListenItem,
  PATHS,
  SESSION_HEADER,
  type SessionEventData,
} from "./protocol.js";

/** The part of the EventSource API the client uses (browser or `eventsource`). */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
}
export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean; fetch?: typeof fetch },
) => EventSourceLike;

/** Connection state. */
export type NotifState = "connecting" | "open" | "closed";

/** What `onStatus` handlers get. */
export interface NotifStatus {
  readonly state: NotifState;
  readonly session: string | undefined;
  /** The stream continued its session: nothing was missed. */
  readonly resumed: boolean;
  /** Events may have been missed (evicted, or the session was lost): refetch what you show. */
  readonly gap: boolean;
}

/** Options of {@link createNotifClient}. */
export interface NotifClientOptions {
  /** Where the router is mounted: `"/notif"` or `"http://host/notif"`. */
  url: string;
  /**
   * EventSource implementation.
   * @default `globalThis.EventSource`, else the `eventsource` package
   */
  EventSource?: EventSourceConstructor;
  /**
   * fetch implementation for listen, unlisten and close.
   * @default `globalThis.fetch`
   */
  fetch?: typeof fetch;
  /**
   * Headers sent with every request, the stream's too where the EventSource
   * takes a `fetch` option (the `eventsource` package does; browsers send cookies instead).
   * @default {}
   */
  headers?: Record<string, string>;
  /**
   * Send cookies cross-origin (EventSource `withCredentials`, fetch `credentials: "include"`).
   * @default false
   */
  withCredentials?: boolean;
  /**
   * Share one stream and one session among the tabs of this origin that use
   * the same `url` (SPEC §7): one tab holds the EventSource, the others get
   * their events from it over `BroadcastChannel`. Without `navigator.locks`
   * or `BroadcastChannel` (Node, old browsers), each client has its own stream.
   * @default true where `navigator.locks` and `BroadcastChannel` exist
   */
  share?: boolean;
}

/** Options of {@link createStreamClient}: share.ts's, for the tab that holds the stream. */
export interface StreamClientOptions extends NotifClientOptions {
  /**
   * End the session on `pagehide` (and start anew when the page comes back).
   * Off for the tab holding a shared stream: it hands the stream over instead.
   * @default true
   */
  pageHide?: boolean;
}

/** A connection to a hub. */
export interface NotifClient {
  /** Listens to `key` (reference-counted); resolves once the server confirmed. */
  listen<K>(def: NotifierDef<K, unknown>, key: K): Promise<void>;
  /** Drops one reference; at zero, stops listening. */
  unlisten<K>(def: NotifierDef<K, unknown>, key: K): Promise<void>;
  /** Calls `handler` for every notification of `def`; returns the function that stops it. */
  on<K, N>(def: NotifierDef<K, N>, handler: (key: K, value: N) => void): () => void;
  session(): string | undefined;
  state(): NotifState;
  onStatus(handler: (status: NotifStatus) => void): () => void;
  /** fetch that adds `X-Notif-Session` (so the server can use `notfor: req`). */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Closes the stream and ends the session on the server. */
  close(): void;
}

/**
 * A client with a stream of its own (`createNotifClient` without sharing).
 * @example
 * const client = createStreamClient({ url: "/notif" });
 */
export function createStreamClient(options: StreamClientOptions): NotifClient {
  if (typeof options?.url !== "string")
    throw new TypeError("sse-notif: createNotifClient needs a url");
  const base = options.url.replace(/\/+$/, "");
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const extraHeaders = options.headers ?? {};
  const credentials: RequestCredentials = options.withCredentials ? "include" : "same-origin";
  const handlers = new Map<string, Set<(key: unknown, value: unknown) => void>>();
  const statusHandlers = new Set<(status: NotifStatus) => void>();
  let source: EventSourceLike | undefined;
  let state: NotifState = "connecting";
  let session: string | undefined;
  let lastEventId: string | undefined;
  let hadSession = false;
  let attempts = 0;
  let reopenTimer: ReturnType<typeof setTimeout> | undefined;

  const post = async (path: string, body: object): Promise<Response> =>
    doFetch(base + path, {
      method: "POST",
      headers: { ...extraHeaders, "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials,
      keepalive: path === PATHS.close,
    });

  const send: Send = async (path, id, items: ListenItem[]) => {
    const res = await post(path, { session: id, items });
    if (res.status === 204) return "ok";
    const body: unknown = await res.json().catch(() => undefined);
    const code = isErrorBody(body) ? body.error.code : "http_error";
    if (code === "unknown_session") return "session";
    const message = isErrorBody(body) ? body.error.message : `HTTP ${res.status}`;
    throw new RequestError(res.status, code, `sse-notif: ${path} refused (${code}): ${message}`);
  };

  const listens = new Listens(
    send,
    () => restart(true),
    () => {},
  );

  function emit(resumed: boolean, gap: boolean): void {
    const status: NotifStatus = { state, session, resumed, gap };
    for (const handler of [...statusHandlers]) handler(status);
  }

  function onSession(event: MessageEvent): void {
    const data = safeParse(event.data) as SessionEventData | undefined;
    if (!data || typeof data.session !== "string") return;
    lastEventId = event.lastEventId;
    attempts = 0;
    const fresh = data.status === "new";
    session = data.session;
    state = "open";
    const resumed = data.status === "resumed";
    const gap = data.status === "gap" || (fresh && hadSession);
    hadSession = true;
    const ready = listens.useSession(session, fresh);
    if (!fresh) {
      emit(resumed, gap);
      return;
    }
    // A new session reports once it listens again, so that a refetch on gap misses nothing.
    const id = session;
    void ready.then(() => {
      if (session === id && state === "open") emit(resumed, gap);
    });
  }

  function dispatch(name: string, event: MessageEvent): void {
    lastEventId = event.lastEventId;
    const data = safeParse(event.data) as { key: unknown; data: unknown } | undefined;
    if (!data) return;
    for (const handler of [...(handlers.get(name) ?? [])]) {
      try {
        handler(data.key, data.data);
      } catch (error) {
        reportError(error);
      }
    }
  }

  function subscribeName(target: EventSourceLike, name: string): void {
    target.addEventListener(name, (event) => {
      if (target === source) dispatch(name, event);
    });
  }

  function open(): void {
    const Impl =
      options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
    if (!Impl) {
      import("eventsource").then(
        (module) => {
          options.EventSource = module.EventSource as unknown as EventSourceConstructor;
          if (state !== "closed") open();
        },
        () =>
          reportError(
            new Error("sse-notif: no EventSource: pass the `eventsource` package's EventSource"),
          ),
      );
      return;
    }
    const query = lastEventId ? `?lastEventId=${encodeURIComponent(lastEventId)}` : "";
    const headered: typeof fetch = (input, init) => {
      const headers = new Headers(init?.headers);
      for (const [name, value] of Object.entries(extraHeaders)) headers.set(name, value);
      return doFetch(input, { ...init, headers });
    };
    const target = new Impl(base + PATHS.events + query, {
      withCredentials: options.withCredentials ?? false,
      fetch: headered,
    });
    source = target;
    target.addEventListener("session", (event) => {
      if (target === source) onSession(event);
    });
    target.addEventListener("error", () => {
      if (target === source) onError(target);
    });
    for (const name of handlers.keys()) subscribeName(target, name);
  }

  function onError(target: EventSourceLike): void {
    if (state === "closed") return;
    const wasOpen = state === "open";
    state = "connecting";
    if (target.readyState === 2) restart(false); // failed for good: reopen ourselves
    if (wasOpen) emit(false, false);
  }

  /** Replaces the stream; `fresh` forgets the session (it is gone on the server). */
  function restart(fresh: boolean): void {
    if (state === "closed") return;
    source?.close();
    source = undefined;
    if (fresh) {
      lastEventId = undefined;
      session = undefined;
      listens.dropSession();
    }
    if (state === "open") {
      state = "connecting";
      emit(false, false);
    }
    clearTimeout(reopenTimer);
    const delay = fresh ? 0 : Math.min(30_000, 500 * 2 ** attempts) * (0.5 + Math.random() / 2);
    attempts += 1;
    reopenTimer = setTimeout(() => state !== "closed" && open(), delay);
  }

  function close(): void {
    if (state === "closed") return;
    state = "closed";
    clearTimeout(reopenTimer);
    source?.close();
    source = undefined;
    listens.close();
    if (session !== undefined) sendClose(session);
    session = undefined;
    emit(false, false);
  }

  function sendClose(id: string): void {
    post(PATHS.close, { session: id }).catch(() => {}); // the session expires anyway
  }

  const onPageHide = (event: PageTransitionEvent): void => {
    if (session === undefined) return;
    const body = new Blob([JSON.stringify({ session })], { type: "application/json" });
    if (!navigator.sendBeacon?.(base + PATHS.close, body)) sendClose(session);
    if (event.persisted) restart(true); // back from the page cache: a new session, listening again
  };
  const onPage =
    options.pageHide !== false &&
    typeof window !== "undefined" &&
    typeof window.addEventListener === "function";
  if (onPage) window.addEventListener("pagehide", onPageHide);

  open();

  return {
    listen: (def, key) => listens.listen(def, key),
    unlisten: (def, key) => listens.unlisten(def, key),
    on(def, handler) {
      const name = def.name;
      let set = handlers.get(name);
      if (!set) {
        set = new Set();
        handlers.set(name, set);
        if (source) subscribeName(source, name);
      }
      const wrapped = handler as (key: unknown, value: unknown) => void;
      set.add(wrapped);
      return () => {
        set.delete(wrapped);
      };
    },
    session: () => session,
    state: () => state,
    onStatus(handler) {
      statusHandlers.add(handler);
      return () => {
        statusHandlers.delete(handler);
      };
    },
    fetch(input, init = {}) {
      const headers = new Headers(init.headers);
      for (const [name, value] of Object.entries(extraHeaders))
        if (!headers.has(name)) headers.set(name, value);
      if (session !== undefined) headers.set(SESSION_HEADER, session);
      return doFetch(input, { ...init, headers, credentials: init.credentials ?? credentials });
    },
    close() {
      if (onPage) window.removeEventListener("pagehide", onPageHide);
      close();
    },
  };
}

function safeParse(text: unknown): unknown {
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function reportError(error: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (report) report(error);
  else console.error(error);
}
