/**
 * The positions a new holder recovers from when the session it took over is
 * gone (SPEC §6, §7): per key, the earliest of the positions the joining
 * tabs had, so that no tab misses a notification (the tabs that were further
 * on drop the repeats, tabpositions.ts). Positions are opaque; they are
 * ordered by the event ids that brought them: in one session by seq, and one
 * of an older session (not the one resumed) before one of the resumed one.
 * Pure.
 */
import type { Topic } from "../protocol/keys.js";
import { parseEventId } from "../protocol/wire.js";
import type { TabListen } from "./tabs.js";

interface Since {
  readonly pos: string | null;
  readonly at: string | undefined;
}

export class TabSince {
  readonly #resumed: string | undefined;
  readonly #since = new Map<Topic, Since>();

  /** `resumeFrom`: the event id the holder resumes from (its session is the newest). */
  constructor(resumeFrom: string | undefined) {
    this.#resumed = parseEventId(resumeFrom)?.session;
  }

  /** A tab joined with these listens (only those it had confirmed count). */
  offer(listens: readonly TabListen[]): void {
    for (const listen of listens) {
      if (!listen.confirmed) continue;
      const offered: Since = { pos: listen.pos ?? null, at: listen.at };
      const kept = this.#since.get(listen.topic);
      if (!kept || this.#before(offered, kept)) this.#since.set(listen.topic, offered);
    }
  }

  /** Where to recover `topic` from: `null` at no known position, `undefined` if no tab had it. */
  since(topic: Topic): string | null | undefined {
    return this.#since.get(topic)?.pos;
  }

  /** Is `a` before `b`? Unknown places (no position, no id) come first: they may be anywhere. */
  #before(a: Since, b: Since): boolean {
    if (b.pos === null) return false;
    if (a.pos === null) return true;
    const x = parseEventId(a.at);
    const y = parseEventId(b.at);
    if (!x) return true;
    if (!y) return false;
    if (x.session === y.session) return x.seq < y.seq;
    return y.session === this.#resumed;
  }
}
