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

  class TappedEventSource implements EventSourceLike {
    readonly #source: EventSourceLike;
    constructor(url: string, init?: { withCredentials?: boolean; fetch?: typeof fetch }) {
      this.#source = new Real(withResume(url, host), init);
      current = this.#source;
      for (const name of names) listen(this.#source, name);
    }
    get readyState(): number {
      return this.#source.readyState;
    }
    addEventListener(type: string, listener: (event: MessageEvent) => void): void {
      this.#source.addEventListener(type, listener);
    }
    close(): void {
      if (current === this.#source) current = undefined;
      this.#source.close();
    }
  }

  return {
    EventSource: TappedEventSource,
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
