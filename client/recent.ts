/**
 * The events the tab holding a shared stream relayed lately, so that a tab
 * that joins late (it was frozen while another tab took over, or its join
 * crossed the first events of the new stream) gets what it missed, or is
 * told it missed some. Pure.
 */
import { parseEventId } from "../protocol/wire.js";

export interface RecentEvent {
  readonly id: string;
  readonly seq: number;
  readonly name: string;
  readonly text: string;
}

export class RecentEvents {
  readonly #max: number;
  #events: RecentEvent[] = [];
  #session: string | undefined;
  /** Every event of the session after this seq is held (or was evicted: then `#from` moved). */
  #from = 0;

  constructor(max = 1_000) {
    this.#max = max;
  }

  /** The session of the stream held, once it started. */
  get session(): string | undefined {
    return this.#session;
  }

  /** Has a stream started (a `session` event came)? */
  get started(): boolean {
    return this.#session !== undefined;
  }

  /** A `session` event: the stream (re)starts after the seq in `id`. */
  start(id: string): void {
    const parsed = parseEventId(id);
    if (!parsed) return;
    if (parsed.session === this.#session && parsed.seq >= this.#from) {
      this.#events = this.#events.filter((event) => event.seq <= parsed.seq);
      return; // resumed: what is held stays contiguous
    }
    this.#session = parsed.session;
    this.#from = parsed.seq;
    this.#events = [];
  }

  add(id: string, name: string, text: string): void {
    const parsed = parseEventId(id);
    if (!parsed || parsed.session !== this.#session) return;
    this.#events.push({ id, seq: parsed.seq, name, text });
    if (this.#events.length > this.#max) this.#from = (this.#events.shift() as RecentEvent).seq;
  }

  /**
   * The events after `id`, oldest first; undefined when some of them are not
   * held (evicted, another session, before this stream started).
   */
  after(id: string): RecentEvent[] | undefined {
    const parsed = parseEventId(id);
    if (!parsed || parsed.session !== this.#session || parsed.seq < this.#from) return undefined;
    return this.#events.filter((event) => event.seq > parsed.seq);
  }
}
