/**
 * The holder's relay of its stream's events to the tabs: in stream order,
 * each event once, to the tabs that listen on its key (the tab `notfor` left
 * out drops it, but takes its position), and the catch-up of a tab that
 * joins late from the events relayed lately (when they are no longer all
 * held, the holder has them replayed by position).
 */
import { parseEventId } from "../protocol/wire.js";
import { EventCursor } from "./cursor.js";
import { RecentEvents } from "./recent.js";
import type { Routes } from "./routes.js";
import { parseNotification } from "./routes.js";
import type { DirectMessage, TabListen } from "./tabs.js";

export interface TabRelayHost {
  readonly term: number;
  /** The event id the stream resumes from: a stream of another session is a new one. */
  readonly resumeFrom: string | undefined;
  sendTo(tab: string, message: DirectMessage): void;
}

export class TabRelay<V> {
  /** The last event of the stream taken (where a successor resumes). */
  readonly cursor = new EventCursor();
  readonly #recent = new RecentEvents();
  readonly #host: TabRelayHost;
  readonly #routes: Routes<V>;
  /** Catch-ups of joins that came before the stream started. */
  readonly #waiting: (() => void)[] = [];

  constructor(host: TabRelayHost, routes: Routes<V>) {
    this.#host = host;
    this.#routes = routes;
  }

  /** An event of the stream (`session` or a notification), in stream order. */
  event(name: string, id: string, text: string): void {
    if (name === "session") {
      this.#recent.start(id);
      for (const catchUp of this.#waiting.splice(0)) catchUp();
    }
    if (!this.cursor.accept(id) || name === "session") return;
    const data = parseNotification(text);
    if (!data) return;
    this.#recent.add(id, name, text);
    for (const tab of this.#routes.targets(name, data.key)) this.#relay(tab, name, id, text);
  }

  /**
   * Sends a joining tab what it missed of its confirmed listens, once the
   * stream started; `done(late)` then says whether it could: `late`, some
   * of those events are no longer held (the holder then has them replayed
   * by position). With `byPosition` (the tab's positions were handed to the
   * stream), a new session recovers them by position instead.
   */
  catchUp(
    tab: string,
    listens: readonly TabListen[],
    after: string,
    byPosition: boolean,
    done: (late: boolean) => void,
  ): void {
    if (!this.#recent.started) {
      this.#waiting.push(() => this.catchUp(tab, listens, after, byPosition, done));
      return;
    }
    const missed = this.#recent.after(after);
    if (!missed) {
      const resumed = parseEventId(this.#host.resumeFrom)?.session;
      done(!(byPosition && this.#recent.session !== resumed));
      return;
    }
    for (const event of missed) {
      const data = parseNotification(event.text);
      if (data && this.#routes.among(listens, event.name, data.key))
        this.#relay(tab, event.name, event.id, event.text);
    }
    done(false);
  }

  #relay(tab: string, name: string, id: string, text: string): void {
    this.#host.sendTo(tab, { type: "event", term: this.#host.term, name, id, text });
  }
}
