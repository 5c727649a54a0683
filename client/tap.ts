/**
 * An EventSource that lets the tab holding a shared stream see every event
 * (with its id) before the stream client does, and decide where a stream
 * resumes: the client itself only tracks the ids of events it dispatches, and
 * the holder dispatches none of its own (it relays them to the tabs).
 */
import type { EventSourceConstructor, EventSourceLike } from "./source.js";

/** What the tap tells its holder, and asks it. */
export interface TapHost {
  /** Every `session` event and every notification of a tapped name, in stream order. */
  onEvent(name: string, event: MessageEvent): void;
  /**
   * The id the stream should resume from, given the one the client asks for
   * (`undefined`: the client starts a new session).
   */
  resumeId(asked: string | undefined): string | undefined;
}

export interface Tap {
  readonly EventSource: EventSourceConstructor;
  /** Streams made from now on wait for {@link release} to open. */
  hold(): void;
  release(): void;
  /** Taps events of one more notifier on the open stream and the next ones. */
  addName(name: string): void;
}

/** What the tap's EventSources share. */
interface TapState {
  readonly Real: EventSourceConstructor;
  readonly host: TapHost;
  /** Tapped event names. */
  readonly names: Set<string>;
  /** The stream opened last (the one the holder's client uses). */
  current: EventSourceLike | undefined;
  /** While held, streams are made but not opened (the holder waits for the tabs to join). */
  held: boolean;
  readonly opens: (() => void)[];
}

/** Wraps `Real` so that `host` sees the events of the names added with `addName`. */
export function tapEventSource(Real: EventSourceConstructor, host: TapHost): Tap {
  const tap: TapState = {
    Real,
    host,
    names: new Set(["session"]),
    current: undefined,
    held: false,
    opens: [],
  };
  return {
    EventSource: class extends TappedEventSource {
      constructor(url: string, init?: SourceOptions) {
        super(tap, url, init);
      }
    },
    hold() {
      tap.held = true;
    },
    release() {
      tap.held = false;
      for (const open of tap.opens.splice(0)) open();
    },
    addName(name) {
      if (tap.names.has(name)) return;
      tap.names.add(name);
      if (tap.current) listen(tap, tap.current, name);
    },
  };
}

type SourceOptions = ConstructorParameters<EventSourceConstructor>[1];

/** One stream of the tap: opened at once, or on release when the tap holds streams. */
class TappedEventSource implements EventSourceLike {
  readonly #tap: TapState;
  #source: EventSourceLike | undefined;
  #queued: [string, (event: MessageEvent) => void][] = [];
  #closed = false;

  constructor(tap: TapState, url: string, init: SourceOptions) {
    this.#tap = tap;
    const open = () => this.#open(url, init);
    if (tap.held) tap.opens.push(open);
    else open();
  }

  get readyState(): number {
    return this.#source?.readyState ?? (this.#closed ? 2 : 0);
  }

  addEventListener(type: string, listener: (event: MessageEvent) => void): void {
    if (this.#source) this.#source.addEventListener(type, listener);
    else this.#queued.push([type, listener]);
  }

  close(): void {
    this.#closed = true;
    if (this.#tap.current === this.#source) this.#tap.current = undefined;
    this.#source?.close();
  }

  #open(url: string, init: SourceOptions): void {
    if (this.#closed) return;
    const tap = this.#tap;
    const source = new tap.Real(withResume(url, tap.host), init);
    this.#source = source;
    tap.current = source;
    for (const name of tap.names) listen(tap, source, name);
    for (const [type, listener] of this.#queued) source.addEventListener(type, listener);
    this.#queued = [];
  }
}

/** The host sees the events `name` of `source` while it is the current stream. */
function listen(tap: TapState, source: EventSourceLike, name: string): void {
  source.addEventListener(name, (event) => {
    if (source === tap.current) tap.host.onEvent(name, event);
  });
}

/** `url` with its `lastEventId` query parameter set to what the host says. */
function withResume(url: string, host: TapHost): string {
  const at = url.indexOf("?");
  const path = at < 0 ? url : url.slice(0, at);
  const params = new URLSearchParams(at < 0 ? "" : url.slice(at + 1));
  const id = host.resumeId(params.get("lastEventId") ?? undefined);
  if (id === undefined) params.delete("lastEventId");
  else params.set("lastEventId", id);
  const query = params.toString();
  return query === "" ? path : `${path}?${query}`;
}
