/**
 * A session's replay buffer: the last `capacity` event bodies, numbered by
 * consecutive sequence numbers from 1. Pure; costs one empty array until used.
 */
export class Retention {
  readonly #capacity: number;
  #ring: string[] = [];
  #head = 0; // ring index of the oldest kept event once the ring is full
  #last = 0; // seq of the newest event ever pushed

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) {
      throw new RangeError("retention must be a whole number ≥ 0");
    }
    this.#capacity = capacity;
  }

  /** Seq of the newest event (0 before any). */
  get last(): number {
    return this.#last;
  }

  /** Seq of the oldest event still kept (`last + 1` when none is kept). */
  get first(): number {
    return this.#last - this.#ring.length + 1;
  }

  /** Appends an event body; returns its seq. Evicts the oldest when full. */
  push(body: string): number {
    this.#last += 1;
    if (this.#capacity === 0) return this.#last;
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(body);
    } else {
      this.#ring[this.#head] = body;
      this.#head = (this.#head + 1) % this.#capacity;
    }
    return this.#last;
  }

  /** Body of event `seq`, or `undefined` when not kept. */
  get(seq: number): string | undefined {
    const offset = seq - this.first;
    if (offset < 0 || offset >= this.#ring.length) return undefined;
    return this.#ring[(this.#head + offset) % this.#ring.length];
  }

  /** Frees the kept bodies (the numbering goes on). */
  clear(): void {
    this.#ring = [];
    this.#head = 0;
  }
}

/** What resuming after `seq` gives: a full replay, a gap, or nothing (a seq never sent). */
export type ResumePlan =
  | { readonly type: "resumed"; readonly from: number }
  | { readonly type: "gap"; readonly from: number; readonly lastEvicted: number }
  | { readonly type: "invalid" };

/** Decides how a client that has every event up to `seq` resumes. */
export function planResume(retention: Retention, seq: number): ResumePlan {
  if (seq > retention.last) return { type: "invalid" };
  if (seq + 1 >= retention.first) return { type: "resumed", from: seq + 1 };
  return { type: "gap", from: retention.first, lastEvicted: retention.first - 1 };
}
