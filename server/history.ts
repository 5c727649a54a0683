/**
 * The in-process history: per channel (one per notifier key) the last `size`
 * notifications with their offsets, dropped `ttl` ms after the key's latest
 * notify, and at most `maxBytes` over all keys, the oldest entry (whatever
 * its key) out first. A key met for the first time, or again after its
 * history expired, starts a new epoch, so a position is never reused. Pure:
 * the clock is injected; nothing here knows of buses or sessions.
 */
import { EpochSource, type Position } from "./positions.js";

/** Bounds of a history (`createHub({ history })`, resolved). */
export interface HistoryLimits {
  /** Entries kept per key. */
  readonly size: number;
  /** Ms a key's history is kept after its latest notify. */
  readonly ttl: number;
  /** Bytes of entries kept over all keys (as the caller counts them). */
  readonly maxBytes: number;
}

export interface HistoryEntry<T> {
  readonly offset: number;
  readonly item: T;
}

/** A read: the key's epoch and top offset, and the entries asked for, oldest first. */
export interface HistoryRead<T> {
  readonly epoch: string;
  readonly top: number;
  readonly entries: HistoryEntry<T>[];
}

interface Stored<T> extends HistoryEntry<T> {
  readonly bytes: number;
}

interface Log<T> {
  readonly epoch: string;
  top: number;
  /** When the latest notify was appended (the ttl runs from there). */
  at: number;
  entries: Stored<T>[];
  /** Index of the oldest kept entry in `entries`. */
  head: number;
  dropped: boolean;
}

/** An entry in append order over all keys, for the byte budget. */
interface Ref<T> {
  readonly log: Log<T>;
  readonly offset: number;
}

export class History<T> {
  readonly #limits: HistoryLimits;
  readonly #now: () => number;
  readonly #epochs: EpochSource;
  /** In order of latest notify: the first is the next to expire. */
  readonly #logs = new Map<string, Log<T>>();
  #order: Ref<T>[] = [];
  #orderHead = 0;
  #bytes = 0;
  #count = 0;

  constructor(limits: HistoryLimits, now: () => number = Date.now, epochs = new EpochSource()) {
    this.#limits = limits;
    this.#now = now;
    this.#epochs = epochs;
  }

  /** Bytes of the entries kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries kept over all keys. */
  get entries(): number {
    return this.#count;
  }

  /** Keys with a history (an epoch), entries or not. */
  get keys(): number {
    return this.#logs.size;
  }

  /** Appends an item to `channel`'s history; returns its position. */
  append(channel: string, item: T, bytes: number): Position {
    this.sweep();
    const log = this.#log(channel);
    const now = this.#now();
    log.at = now;
    this.#logs.delete(channel); // re-inserted last: the map stays in order of latest notify
    this.#logs.set(channel, log);
    log.top += 1;
    const offset = log.top;
    if (this.#limits.size > 0) {
      log.entries.push({ offset, item, bytes });
      this.#order.push({ log, offset });
      this.#bytes += bytes;
      this.#count += 1;
      if (log.entries.length - log.head > this.#limits.size) this.#shift(log);
      this.#fitBytes();
    }
    return { epoch: log.epoch, offset };
  }

  /**
   * The key's epoch and top (a new epoch, top 0, for a key without history),
   * and the entries after `after` when it is of this epoch; for `after` of
   * another epoch, every entry kept; without `after`, none.
   */
  read(channel: string, after?: Position): HistoryRead<T> {
    this.sweep();
    const log = this.#log(channel);
    const from = after === undefined ? log.top : after.epoch === log.epoch ? after.offset : 0;
    const entries: HistoryEntry<T>[] = [];
    for (let i = log.head; i < log.entries.length; i += 1) {
      const entry = log.entries[i] as Stored<T>;
      if (entry.offset > from) entries.push({ offset: entry.offset, item: entry.item });
    }
    return { epoch: log.epoch, top: log.top, entries };
  }

  /** Drops the histories whose ttl ran out. */
  sweep(): void {
    const deadline = this.#now() - this.#limits.ttl;
    for (const [channel, log] of this.#logs) {
      if (log.at > deadline) break;
      this.#drop(channel, log);
    }
  }

  #log(channel: string): Log<T> {
    let log = this.#logs.get(channel);
    if (!log) {
      log = {
        epoch: this.#epochs.next(),
        top: 0,
        at: this.#now(),
        entries: [],
        head: 0,
        dropped: false,
      };
      this.#logs.set(channel, log);
    }
    return log;
  }

  #drop(channel: string, log: Log<T>): void {
    this.#logs.delete(channel);
    log.dropped = true;
    for (let i = log.head; i < log.entries.length; i += 1) {
      this.#bytes -= (log.entries[i] as Stored<T>).bytes;
      this.#count -= 1;
    }
    log.entries = [];
    log.head = 0;
  }

  /** Removes a log's oldest entry. */
  #shift(log: Log<T>): void {
    const entry = log.entries[log.head] as Stored<T>;
    log.head += 1;
    this.#bytes -= entry.bytes;
    this.#count -= 1;
    if (log.head > 64 && log.head * 2 > log.entries.length) {
      log.entries = log.entries.slice(log.head);
      log.head = 0;
    }
  }

  /** Is this ref still the oldest entry of a live log? */
  #live(ref: Ref<T>): boolean {
    const { log } = ref;
    return !log.dropped && log.entries[log.head]?.offset === ref.offset;
  }

  /** Oldest entries out, whatever their key, until the bytes fit; compacts the order list. */
  #fitBytes(): void {
    while (this.#bytes > this.#limits.maxBytes && this.#orderHead < this.#order.length) {
      const ref = this.#order[this.#orderHead] as Ref<T>;
      this.#orderHead += 1;
      if (this.#live(ref)) this.#shift(ref.log);
    }
    const length = this.#order.length - this.#orderHead;
    if (length > 1_024 && length > 2 * this.#count) {
      this.#order = this.#order.slice(this.#orderHead).filter((ref) => {
        const { log } = ref;
        return !log.dropped && ref.offset >= (log.entries[log.head]?.offset ?? Infinity);
      });
      this.#orderHead = 0;
    }
  }
}
