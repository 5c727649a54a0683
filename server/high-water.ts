/**
 * What this node has seen of each key's history on Redis, to catch a
 * history that went backwards (SPEC §6, §8). Replication is asynchronous:
 * a master that fails over (or a Redis restored from an older copy) can
 * lose notifies it had already published, and the key's offsets would then
 * count again from the promoted copy's top within the same epoch, so one
 * position would name two notifies. Per key, this node keeps the highest
 * position it knows (from its appends, its reads and the live messages)
 * with a digest of that entry, and the scripts compare it with Redis's
 * copy: a top below it, or another entry at its offset, starts a new epoch
 * there (redis-history.ts). Live messages on one subscription come in
 * script order, so an offset that does not grow is caught here, before it
 * is delivered. Pure: no Redis.
 */
import { createHash } from "node:crypto";
import type { Position } from "./positions.js";

/** Channels remembered, least recently seen out first. */
const CAPACITY = 10_000;

/** A history message as published: `{"pos":"<epoch>-<offset>",` then the stored message's rest. */
const LIVE = /^\{"pos":"([0-9a-z]{1,40})-(0|[1-9][0-9]{0,15})",/;

interface Mark {
  /** The highest position known, and the digest of its entry ('' when unknown). */
  epoch: string;
  offset: number;
  digest: string;
  /** The last live position (live ones must grow within an epoch). */
  live: Position | undefined;
  /** An epoch caught going backwards: its messages are dropped, the next script call ends it. */
  retired: string | undefined;
}

export const digest = (text: string) => createHash("sha1").update(text).digest("hex");

export class HighWater {
  readonly #marks = new Map<string, Mark>();

  /** The script arguments: known epoch, offset, digest, and '1' to end that epoch regardless. */
  args(channel: string): string[] {
    const mark = this.#marks.get(channel);
    if (!mark) return ["", "0", "", "0"];
    const force = mark.retired === mark.epoch ? "1" : "0";
    return [mark.epoch, String(mark.offset), mark.digest, force];
  }

  /** A script answered: `position` holds `stored` (the message as appended), or '' if unknown. */
  saw(channel: string, position: Position, stored: string | undefined): void {
    const mark = this.#marks.get(channel);
    if (mark && mark.epoch === position.epoch && mark.offset >= position.offset) {
      this.#touch(channel, mark);
      return;
    }
    if (mark && mark.epoch === position.epoch && stored === undefined) return; // keep the digest
    const next: Mark = {
      epoch: position.epoch,
      offset: position.offset,
      digest: stored === undefined ? "" : digest(stored),
      live: mark?.live,
      retired: mark?.retired,
    };
    this.#touch(channel, next);
  }

  /**
   * A live message: true to hand it on, false when it comes from an epoch
   * caught going backwards (then the caller has the hub check the channel).
   */
  live(channel: string, message: string): boolean {
    const match = LIVE.exec(message);
    if (!match) return true; // not a history message
    const position = { epoch: match[1] as string, offset: Number(match[2]) };
    const mark = this.#marks.get(channel);
    if (mark?.retired === position.epoch) return false;
    const last = mark?.live;
    if (mark && last?.epoch === position.epoch && position.offset <= last.offset) {
      mark.retired = position.epoch; // one position, two notifies: this epoch is over
      if (mark.epoch !== position.epoch) Object.assign(mark, { epoch: position.epoch, digest: "" });
      mark.offset = Math.max(mark.offset, last.offset);
      return false;
    }
    this.saw(channel, position, `{${message.slice(match[0].length)}`);
    const marked = this.#marks.get(channel);
    if (marked) marked.live = position;
    return true;
  }

  /** Is this channel's history known to have gone backwards, and not yet given a new epoch? */
  regressed(channel: string): boolean {
    const mark = this.#marks.get(channel);
    return mark !== undefined && mark.retired === mark.epoch;
  }

  #touch(channel: string, mark: Mark): void {
    this.#marks.delete(channel);
    this.#marks.set(channel, mark);
    if (this.#marks.size <= CAPACITY) return;
    const oldest = this.#marks.keys().next().value;
    if (oldest !== undefined) this.#marks.delete(oldest);
  }
}
