/**
 * A listen with `since` on the sequencer (sequencer.ts, SPEC §6): the key's
 * history after `since` is read and, when it is continuous from there,
 * replayed to that session alone; the session's floor then tells the live
 * flow what it already had. The live flow on the key waits meanwhile.
 */
import type { Topic } from "../protocol/keys.js";
import type { AnyDelivery, Audience } from "./delivery.js";
import { NotifError, toError } from "./errors.js";
import { continuous, formatPosition, type Position } from "./positions.js";
import type { Session } from "./session.js";
import type { JoinMode, PositionedNotify, PositionedRead, Track } from "./track.js";

/** What `/listen` answers for an item (SPEC §6). */
export interface ListenAnswer {
  readonly pos: string;
  readonly recovered: boolean | null;
}

/** What a join needs of the sequencer and its host. */
export interface JoinHost {
  read(topic: Topic, after?: Position): Promise<PositionedRead>;
  deliver(delivery: AnyDelivery, topic: Topic, entry: PositionedNotify, audience: Audience): void;
  /** Takes back a listen whose `since` could not be read: nothing of it applied. */
  unlisten(session: Session, topic: Topic): void;
  onError(error: Error, context: object): void;
  /** Tells the track's other listeners that something at `lost` is lost. */
  gap(track: Track, lost: Position | undefined): void;
}

/**
 * Joins `session` to `track` (its read from `since`, in the track's queue).
 * `mode`: see {@link JoinMode} (`again`: nothing replayed); `answer`: the
 * request asked for positions, so a read that fails takes the listen back
 * and rejects; else it holds, reported, and the next read tells what was lost.
 */
export async function join(
  host: JoinHost,
  track: Track,
  session: Session,
  how: { since: Position | undefined; mode: JoinMode; answer: boolean },
): Promise<ListenAnswer | undefined> {
  try {
    return await replay(host, track, session, how.since, how.mode);
  } catch (error) {
    if (how.answer) {
      // before the live flow resumes: a retry is then a fresh listen, replayed, not an `already` one
      if (how.mode === "new") host.unlisten(session, track.topic);
      throw new NotifError("unavailable", "the key's history could not be read: try again", {
        cause: error,
      });
    }
    host.onError(toError(error), { during: "history read", topic: track.topic });
    track.suspect = true;
    if (track.last === undefined) track.blind = true;
    return undefined;
  }
}

async function replay(
  host: JoinHost,
  track: Track,
  session: Session,
  since: Position | undefined,
  mode: JoinMode,
): Promise<ListenAnswer> {
  const already = mode !== "new";
  try {
    const read = await host.read(track.topic, since);
    const top = { epoch: read.epoch, offset: read.top };
    const recovered = since === undefined ? null : continuous(read, since);
    if (recovered && mode !== "again" && !track.dead && since) {
      for (const { offset, entry } of read.entries) {
        if (offset <= since.offset) continue;
        const audience = { pos: formatPosition(entry.pos), only: session };
        host.deliver(track.delivery, track.topic, entry, audience);
      }
    }
    const last = track.last;
    if (last === undefined && track.blind && read.top > 0) host.gap(track, top); // the others
    track.blind &&= last !== undefined;
    if (last === undefined) track.last = top;
    else if (!already && (last.epoch !== top.epoch || last.offset < top.offset)) {
      const older = last.epoch !== top.epoch ? last.epoch : undefined;
      track.floors.set(session, { pos: top, older });
    }
    return { pos: formatPosition(top), recovered };
  } finally {
    if (mode === "new") track.joining.delete(session);
  }
}
