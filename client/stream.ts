/**
 * One client's stream: a single EventSource at a time, its `session` event
 * and last event id, and its replacement after a backoff delay with jitter
 * whatever failed (the client reconnects by itself rather than at the
 * EventSource's fixed `retry`). Non-reactive plumbing: it knows nothing of
 * listens, handlers or status; it tells its host.
 */
import { type LostKey, lostKeys, parseJson, type SessionEventData } from "../protocol/wire.js";
import { type Backoff, type BackoffOptions, type Clock, makeBackoff } from "./reconnect.js";
import {
  type EventSourceConstructor,
  type EventSourceLike,
  globalEventSource,
  loadEventSource,
  openSource,
  type SourceInit,
} from "./source.js";
import type { NotifState } from "./status.js";

/** How the stream is opened. */
export interface StreamOptions {
  /** The router's URL, without a trailing `/`. */
  readonly base: string;
  /** @default `globalThis.EventSource`, else the `eventsource` package */
  readonly EventSource: EventSourceConstructor | undefined;
  readonly init: SourceInit;
  readonly backoff: BackoffOptions;
  readonly clock: Clock;
}

/** How a `session` event opened the stream: `"new"` for any status but the two that keep the session. */
export type Opening = "new" | "resumed" | "gap";

/** What the stream tells the client composing it. */
export interface StreamHost {
  /**
   * A `session` event opened the stream on `session`: a new session, the
   * same one `resumed`, or the same one with a `gap` (of the keys in `lost`
   * when it says).
   */
  opened(session: string, opening: Opening, lost: LostKey[] | undefined): void;
  /** The open session reported a gap in-stream (a node could not fill a hole). */
  gap(lost: LostKey[]): void;
  /** An event of a name given to {@link Stream.subscribe}, with its `data` text. */
  event(name: string, data: unknown): void;
  /** The session was forgotten (gone on the server); the next stream starts a new one. */
  forgotten(): void;
  /** The state went from open to connecting. */
  connecting(): void;
  /** No EventSource could be found. */
  error(error: Error): void;
}

/** The stream of one client. */
export interface Stream {
  readonly state: NotifState;
  /** The session of the last `session` event; `undefined` once forgotten or closed. */
  readonly session: string | undefined;
  /** Opens the first EventSource. */
  start(): void;
  /** Delivers the events named `name` to the host, from this EventSource and the next ones. */
  subscribe(name: string): void;
  /** Replaces the EventSource after a backoff delay; `fresh` forgets the session. */
  restart(fresh: boolean): void;
  /** The session is healthy: the next reconnection waits from `retry` again. */
  healthy(): void;
  /** Closes for good; false when it was closed already. */
  close(): boolean;
}

/**
 * Makes the stream of a client; it opens on {@link Stream.start}.
 * @example
 * const stream = makeStream({ base, EventSource, init, backoff, clock: realClock }, host);
 * stream.start();
 */
export function makeStream(options: StreamOptions, host: StreamHost): Stream {
  return new SourceStream(options, host);
}

class SourceStream implements Stream {
  readonly #options: StreamOptions;
  readonly #host: StreamHost;
  /** Event names delivered to the host. */
  readonly #names = new Set<string>();
  readonly #backoff: Backoff;
  #Impl: EventSourceConstructor | undefined;
  #source: EventSourceLike | undefined;
  #state: NotifState = "connecting";
  #session: string | undefined;
  #lastEventId: string | undefined;
  #reopenTimer: unknown;

  constructor(options: StreamOptions, host: StreamHost) {
    this.#options = options;
    this.#host = host;
    this.#backoff = makeBackoff(options.backoff, options.clock);
    this.#Impl = options.EventSource;
  }

  get state(): NotifState {
    return this.#state;
  }

  get session(): string | undefined {
    return this.#session;
  }

  start(): void {
    this.#open();
  }

  subscribe(name: string): void {
    if (this.#names.has(name)) return;
    this.#names.add(name);
    if (this.#source) this.#listen(this.#source, name);
  }

  restart(fresh: boolean): void {
    if (this.#state === "closed") return;
    this.#source?.close();
    this.#source = undefined;
    if (fresh) {
      this.#lastEventId = undefined;
      this.#session = undefined;
      this.#host.forgotten();
    }
    if (this.#state === "open") {
      this.#state = "connecting";
      this.#host.connecting();
    }
    const { clock } = this.#options;
    clock.clearTimeout(this.#reopenTimer);
    const reopen = () => this.#state !== "closed" && this.#open();
    this.#reopenTimer = clock.setTimeout(reopen, this.#backoff.next());
  }

  healthy(): void {
    this.#backoff.reset();
  }

  close(): boolean {
    if (this.#state === "closed") return false;
    this.#state = "closed";
    this.#options.clock.clearTimeout(this.#reopenTimer);
    this.#source?.close();
    this.#source = undefined;
    this.#session = undefined;
    return true;
  }

  #open(): void {
    const Impl = this.#Impl ?? globalEventSource();
    if (!Impl) {
      loadEventSource().then(
        (found) => {
          this.#Impl = found;
          if (this.#state !== "closed") this.#open();
        },
        (error: Error) => this.#host.error(error),
      );
      return;
    }
    const { base, init } = this.#options;
    const target = openSource(Impl, base, this.#lastEventId, init);
    this.#source = target;
    target.addEventListener("session", (event) => {
      if (target === this.#source) this.#onSession(event);
    });
    target.addEventListener("error", () => {
      if (target === this.#source) this.restart(false);
    });
    for (const name of this.#names) this.#listen(target, name);
  }

  #listen(target: EventSourceLike, name: string): void {
    target.addEventListener(name, (event) => {
      if (target !== this.#source) return; // an EventSource replaced since
      this.#lastEventId = event.lastEventId;
      this.#host.event(name, event.data);
    });
  }

  #onSession(event: MessageEvent): void {
    const data = parseJson(event.data) as SessionEventData | undefined;
    if (!data || typeof data.session !== "string") return;
    this.#lastEventId = event.lastEventId;
    const lost = lostKeys(data.lost);
    if (data.status === "gap" && lost && data.session === this.#session && this.#state === "open") {
      this.#host.gap(lost);
      return;
    }
    this.#session = data.session;
    this.#state = "open";
    const opening = data.status === "resumed" || data.status === "gap" ? data.status : "new";
    this.#host.opened(data.session, opening, lost);
  }
}
