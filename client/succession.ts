/**
 * A new holder taking a shared stream over from the tab that held it (SPEC
 * §7): it waits (a little) for the alive tabs to join, resumes the session
 * from the earliest event id any of them heard of, and, should the session be
 * gone, recovers each key from the earliest position the tabs had of it
 * (tabsince.ts). Without a session to resume, the topics held before that no
 * tab declared again are let go once the new session opened. No I/O.
 */
import type { Topic } from "../protocol/keys.js";
import { type ListenItem, parseEventId } from "../protocol/wire.js";
import { earlierId } from "./cursor.js";
import type { HandOver } from "./handover.js";
import type { TabListen } from "./tabs.js";
import { TabSince } from "./tabsince.js";

/** Ms a new holder waits for the alive tabs to join before it resumes the stream. */
const GATHER = 250;

/** What {@link Succession.gather} waits on. */
export interface GatherHost {
  /** Every tab alive now. */
  present(): Promise<string[]>;
  /** The tab has joined the new holder. */
  joined(tab: string): boolean;
  /** Opens the stream (it was held until now). */
  open(): void;
}

/** Where a new holder's stream starts, and what it takes over. */
export class Succession {
  /** Where the first stream resumes (`undefined`: a new session); taken by {@link resumeId}. */
  #resume: string | undefined;
  /** Taking over: the tabs' positions, should the session be gone. */
  readonly #since: TabSince;
  /** Taking over: the stream waits for the tabs' joins, to resume from the earliest of theirs. */
  #gathering: boolean;
  /** Without a session to resume, topics held before that no tab re-declared go once it opened. */
  #pruned: boolean;

  /** `resumeFrom`: the last event id any tab heard of; undefined: a new session. */
  constructor(resumeFrom: string | undefined) {
    this.#resume = resumeFrom;
    this.#since = new TabSince(resumeFrom);
    this.#gathering = resumeFrom !== undefined;
    this.#pruned = resumeFrom !== undefined; // the stream client releases them (`handOver`)
  }

  /** The tabs are still joining: the stream waits for them. */
  get gathering(): boolean {
    return this.#gathering;
  }

  /** Where the stream resumes, until it opened. */
  get resume(): string | undefined {
    return this.#resume;
  }

  /** A tab joined: while gathering, its positions and its last event id count. */
  joined(listens: readonly TabListen[], after: string | undefined): void {
    if (!this.#gathering) return;
    this.#since.offer(listens);
    if (after !== undefined) this.#resume = earlierId(this.#resume, after);
  }

  /** Waits (a little) for every alive tab to join, then opens the stream. */
  async gather(tabs: GatherHost): Promise<void> {
    const deadline = Date.now() + GATHER;
    const present = await tabs.present().catch(() => []);
    while (Date.now() < deadline && present.some((tab) => !tabs.joined(tab)))
      await new Promise((resolve) => setTimeout(resolve, 10));
    this.#gathering = false;
    tabs.open();
  }

  /**
   * What the stream client takes over, read when the session answers (after
   * the tabs joined): `held`, what the server may hold; `letGo`, called
   * when the server no longer holds one of them.
   */
  handOver(held: [Topic, ListenItem][], letGo: (topic: Topic) => void): HandOver {
    return {
      since: (topic) => this.#since.since(topic),
      held: () => held,
      // after the listen that may have wanted it again was counted
      released: (topic) => queueMicrotask(() => letGo(topic)),
    };
  }

  /**
   * The id a stream resumes from, given the one the stream client asks for
   * and `last`, the last event id relayed: only the first stream resumes a
   * handed-over session; later ones resume from the later of the two.
   */
  resumeId(asked: string | undefined, last: string | undefined): string | undefined {
    const resume = this.#resume;
    this.#resume = undefined;
    if (asked === undefined) return resume;
    const a = parseEventId(asked);
    const b = parseEventId(last);
    return a && b && a.session === b.session && b.seq > a.seq ? last : asked;
  }

  /** True once, when the session opened and nothing was resumed: held topics no tab re-declared go. */
  prune(): boolean {
    if (this.#pruned) return false;
    this.#pruned = true;
    return true;
  }
}
