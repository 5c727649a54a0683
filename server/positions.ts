/**
 * Positions in a key's history (SPEC §6): an epoch, new whenever the history
 * behind a key may have been lost, and an offset that grows by one per
 * notify. On the wire a position is the canonical string `<epoch>-<offset>`,
 * so that two equal positions are equal strings. Pure.
 */
import { randomBytes } from "node:crypto";
import type { Position } from "../protocol/positions.js";

export { formatPosition, type Position, parsePosition } from "../protocol/positions.js";

const EPOCH = /^[0-9a-z]{1,40}$/;

/** True when `epoch` may name an epoch. */
export function isEpoch(epoch: unknown): epoch is string {
  return typeof epoch === "string" && EPOCH.test(epoch);
}

/** A fresh random epoch: 16 base-36 characters (about 80 bits). */
export function newEpoch(): string {
  let epoch = "";
  for (const byte of randomBytes(16)) epoch += (byte % 36).toString(36);
  return epoch;
}

/** Makes distinct epochs cheaply: one random base, then a counter. */
export class EpochSource {
  readonly #base = newEpoch().slice(0, 12);
  #count = 0;

  next(): string {
    this.#count += 1;
    return `${this.#base}${this.#count.toString(36)}`;
  }
}

/** What a history read gives: the key's epoch and top offset, and the entries it returned. */
export interface HistoryWindow {
  readonly epoch: string;
  readonly top: number;
  /** Offsets of the entries returned, in order (consecutive). */
  readonly entries: readonly { readonly offset: number }[];
}

/**
 * Does `read` prove that nothing after `after` is missing? Only within one
 * epoch, for a position not ahead of the key, when the entries start right
 * after it (or none is due).
 */
export function continuous(read: HistoryWindow, after: Position): boolean {
  if (after.epoch !== read.epoch || after.offset > read.top) return false;
  if (after.offset === read.top) return true;
  return read.entries[0]?.offset === after.offset + 1 && read.entries.at(-1)?.offset === read.top;
}

/**
 * A message as the history publishes it: `message` (a JSON object's text)
 * with `"pos"` as its first field. The Redis script does the same in Lua.
 */
export function withPosition(message: string, pos: string): string {
  if (!message.startsWith("{") || message === "{}") {
    throw new TypeError("a message with a position must be a non-empty JSON object");
  }
  return `{"pos":${JSON.stringify(pos)},${message.slice(1)}`;
}
