/**
 * A session's replay buffer: the last `capacity` event bodies, and at most
 * `maxBytes` bytes of them (UTF-8), numbered by consecutive sequence numbers
 * from 1. A resumed stream replays from it (sessions.ts). Pure; costs one
 * empty array until used.
 */
export class Retention {
  readonly #capacity: number;
  readonly #maxBytes: number;
  #ring: string[] = [];
  /** Byte size of each kept body, at the same ring index. */
  #sizes: number[] = [];
  #head = 0; // ring index of the oldest kept event
  #size = 0; // events kept
  #bytes = 0; // bytes kept
  #last = 0; // seq of the newest event ever pushed

  constructor(capacity: number, maxBytes = Number.POSITIVE_INFINITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) {
      throw new RangeError("retention must be a whole number ≥ 0");
    }
    if (!(maxBytes >= 0)) throw new RangeError("retentionBytes must be a number ≥ 0");
    this.#capacity = capacity;
    this.#maxBytes = maxBytes;
  }

  /** Seq of the newest event (0 before any). */
  get last(): number {
    return this.#last;
  }

  /** Seq of the oldest event still kept (`last + 1` when none is kept). */
  get first(): number {
    return this.#last - this.#size + 1;
  }

  /** Bytes of the events kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Appends an event body; returns its seq. Evicts the oldest while over
   * `capacity` events or `maxBytes` bytes; a body larger than `maxBytes` on
   * its own is numbered but not kept.
   */
  push(body: string): number {
    this.#last += 1;
    const bytes = byteLength(body);
    if (this.#capacity === 0 || bytes > this.#maxBytes) {
      this.clear(); // everything older is gone too: events are kept contiguous
      return this.#last;
    }
    while (this.#size > 0 && (this.#size >= this.#capacity || this.#bytes + bytes > this.#maxBytes))
      this.#evict();
    if (this.#size === this.#ring.length) {
      if (this.#head !== 0) this.#straighten();
      this.#ring.push(body); // below capacity, the array grows
      this.#sizes.push(bytes);
    } else {
      const at = (this.#head + this.#size) % this.#ring.length;
      this.#ring[at] = body;
      this.#sizes[at] = bytes;
    }
    this.#size += 1;
    this.#bytes += bytes;
    return this.#last;
  }

  /** Body of event `seq`, or `undefined` when not kept. */
  get(seq: number): string | undefined {
    const offset = seq - this.first;
    if (offset < 0 || offset >= this.#size) return undefined;
    return this.#ring[(this.#head + offset) % this.#ring.length];
  }

  /** Frees the kept bodies (the numbering goes on). */
  clear(): void {
    this.#ring = [];
    this.#sizes = [];
    this.#head = 0;
    this.#size = 0;
    this.#bytes = 0;
  }

  /** Puts the kept events at indexes 0… so that the array can grow. */
  #straighten(): void {
    const at = this.#head;
    this.#ring = [...this.#ring.slice(at), ...this.#ring.slice(0, at)];
    this.#sizes = [...this.#sizes.slice(at), ...this.#sizes.slice(0, at)];
    this.#head = 0;
  }

  #evict(): void {
    this.#bytes -= this.#sizes[this.#head] ?? 0;
    this.#ring[this.#head] = ""; // let the body go
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#size -= 1;
    if (this.#size === 0) this.clear();
  }
}

/**
 * UTF-8 byte length, remembering the last body: one notify pushes one body
 * string to every listening session, so it is measured once, not per session.
 */
let lastBody = "";
let lastBytes = 0;
function byteLength(body: string): number {
  if (body !== lastBody) {
    lastBody = body;
    lastBytes = Buffer.byteLength(body, "utf8");
  }
  return lastBytes;
}

/** What resuming after `seq` gives: a full replay, a gap, or nothing (a seq never sent). */
export type ResumePlan =
  | { readonly type: "resumed" }
  | { readonly type: "gap"; readonly lastEvicted: number }
  | { readonly type: "invalid" };

/** Decides how a client that has every event up to `seq` resumes. */
export function planResume(retention: Retention, seq: number): ResumePlan {
  if (seq > retention.last) return { type: "invalid" };
  if (seq + 1 >= retention.first) return { type: "resumed" };
  return { type: "gap", lastEvicted: retention.first - 1 };
}
