/**
 * The client's EventSource: which implementation (the page's, or the
 * `eventsource` package in Node), and opening the stream with the client's
 * headers, resuming from the last event id it saw.
 */
import { PATHS } from "../protocol/wire.js";

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

/** The page's EventSource, if it has one. */
export function globalEventSource(): EventSourceConstructor | undefined {
  return (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
}

/**
 * The Node fallback's module name, held in a variable so that bundlers
 * (Vite, Rollup, webpack, esbuild) leave it out of browser builds: a page has
 * its own EventSource and never loads it.
 */
const NODE_EVENTSOURCE = "eventsource";

/** The `eventsource` package's EventSource (Node), or an error saying what to pass. */
export function loadEventSource(): Promise<EventSourceConstructor> {
  const name = NODE_EVENTSOURCE;
  return import(/* @vite-ignore */ /* webpackIgnore: true */ name).then(
    (module: { EventSource: unknown }) => module.EventSource as EventSourceConstructor,
    () => {
      throw new Error("sse-notif: no EventSource: pass the `eventsource` package's EventSource");
    },
  );
}

/** How the stream is requested. */
export interface SourceInit {
  readonly withCredentials: boolean;
  readonly headers: Record<string, string>;
  readonly fetch: typeof fetch;
}

/** Opens `GET <base>/events`, resuming from `lastEventId` when given. */
export function openSource(
  Impl: EventSourceConstructor,
  base: string,
  lastEventId: string | undefined,
  init: SourceInit,
): EventSourceLike {
  const query = lastEventId ? `?lastEventId=${encodeURIComponent(lastEventId)}` : "";
  const headered: typeof fetch = (input, options) => {
    const headers = new Headers(options?.headers);
    for (const [name, value] of Object.entries(init.headers)) headers.set(name, value);
    return init.fetch(input, { ...options, headers });
  };
  return new Impl(base + PATHS.events + query, {
    withCredentials: init.withCredentials,
    fetch: headered,
  });
}

/** Calls `handler` on the page's `pagehide`; returns the function that stops it. Nothing outside browsers. */
export function watchPageHide(handler: (event: PageTransitionEvent) => void): () => void {
  if (typeof window === "undefined" || typeof window.addEventListener !== "function")
    return () => {};
  window.addEventListener("pagehide", handler);
  return () => window.removeEventListener("pagehide", handler);
}
