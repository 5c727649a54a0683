/**
 * An EventSource that lets the tab holding a shared stream see every event
 * (with its id) before the stream client does, and decide where a stream
 * resumes: the client itself only tracks the ids of events it dispatches, and
 * the holder dispatches none of its own (it relays them to the tabs).
 */
import type { EventSourceConstructor, EventSourceLike } from "./client.js";

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

/** Wraps `Real` so that `host` sees the events of the names added with `addName`. */
export function tapEventSource(Real: EventSourceConstructor, host: TapHost): Tap {
  const names = new Set<string>(["session"]);
  let current: EventSourceLike | undefined;
  const listen = (source: EventSourceLike, name: string) =>
    source.addEventListener(name, (event) => {
      if (source === current) host.onEvent(name, event);
    });

  /** While held, streams are made but not opened (the holder waits for the tabs to join). */
  let held = false;
  const opens: (() => void)[] = [];

  class TappedEventSource implements EventSourceLike {
    #source: EventSourceLike | undefined;
    #queued: [string, (event: MessageEvent) => void][] = [];
    #closed = false;
    constructor(url: string, init?: { withCredentials?: boolean; fetch?: typeof fetch }) {
      const open = () => {
        if (this.#closed) return;
        const source = new Real(withResume(url, host), init);
        this.#source = source;
        current = source;
        for (const name of names) listen(source, name);
        for (const [type, listener] of this.#queued) source.addEventListener(type, listener);
        this.#queued = [];
      };
      if (held) opens.push(open);
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
      if (current === this.#source) current = undefined;
      this.#source?.close();
    }
  }

  return {
    EventSource: TappedEventSource,
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const open of opens.splice(0)) open();
    },
    addName(name) {
      if (names.has(name)) return;
      names.add(name);
      if (current) listen(current, name);
    },
  };
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
