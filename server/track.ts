/**
 * What the sequencer (sequencer.ts) keeps per topic, and the pure checks it
 * makes on positions: does a session's floor cover a notification, and what
 * does a history read prove lost. No I/O.
 */
import type { Topic } from "../protocol/keys.js";
import type { AnyDelivery, Audience } from "./delivery.js";
import type { NotifyMessage } from "./messages.js";
import { continuous, formatPosition, type Position } from "./positions.js";
import type { Session } from "./session.js";

/** A notification with its position, live or from the history. */
export interface PositionedNotify {
  readonly pos: Position;
  readonly message: NotifyMessage;
  /** The value's JSON when already made (in-process history). */
  readonly valueJson?: string;
}

/** What the sequencer reads from a history. */
export interface PositionedRead {
  readonly epoch: string;
  readonly top: number;
  readonly entries: readonly { readonly offset: number; readonly entry: PositionedNotify }[];
}

/** A session that joined at `pos`: it gets nothing at or before it from the live flow. */
export interface Floor {
  readonly pos: Position;
  /** The epoch this node was in when the session joined a newer one: all of it is older. */
  readonly older: string | undefined;
}

export interface Track {
  readonly topic: Topic;
  readonly delivery: AnyDelivery;
  readonly key: unknown;
  /** The last position delivered (or, before any, where this node started serving). */
  last: Position | undefined;
  /** Operations queued or running: live entries wait in `buffer` meanwhile. */
  busy: number;
  chain: Promise<unknown>;
  readonly buffer: PositionedNotify[];
  /** Sessions whose `since` read is pending: the live flow skips them. */
  readonly joining: Set<Session>;
  readonly floors: Map<Session, Floor>;
  /** The bus connection was lost since `last`: an epoch change is then a gap. */
  suspect: boolean;
  /** Where its listeners started is unknown (the read of a listen failed): the next read tells gap. */
  blind: boolean;
  /** The epoch a fill left for another with its rest told lost: what still comes of it is dropped. */
  left: string | undefined;
  dead: boolean;
}

/**
 * How a listen item joins its topic: `new` (the session did not listen: it
 * waits for its replay, from a floor on), `replay` (it listens already and
 * asked a replay after `since`), `again` (it listens already, or the same
 * batch named the key before: nothing replayed).
 */
export type JoinMode = "new" | "replay" | "again";

export function joinMode(joining: boolean, listening: boolean, replay: boolean): JoinMode {
  // A replay asked while the session's own join of the key is pending (another request) still
  // replays: it promised what follows `since`. In one batch, the key is not listened yet.
  if (joining) return replay && listening ? "replay" : "again";
  if (!listening) return "new";
  return replay ? "replay" : "again";
}

/** A new track: nothing delivered yet, nothing waiting. */
export function newTrack(item: {
  readonly topic: Topic;
  readonly delivery: AnyDelivery;
  readonly key: unknown;
}): Track {
  return {
    topic: item.topic,
    delivery: item.delivery,
    key: item.key,
    last: undefined,
    busy: 0,
    chain: Promise.resolve(),
    buffer: [],
    joining: new Set(),
    floors: new Map(),
    suspect: false,
    blind: false,
    left: undefined,
    dead: false,
  };
}

/** Did the session of this floor join at or after `pos` (so it must not get it live)? */
export function covered(floor: Floor | undefined, pos: Position): boolean {
  if (floor === undefined) return false;
  if (pos.epoch === floor.pos.epoch) return pos.offset <= floor.pos.offset;
  return pos.epoch === floor.older;
}

/**
 * After a fill's read from `after`: the first position the topic's listeners
 * lost, or `undefined` when the read proves nothing was. `blind`: where they
 * started is unknown; `unplaced`: a notification had was in no history.
 */
export function missed(
  read: PositionedRead,
  after: Position | undefined,
  suspect: boolean,
  blind: boolean,
  unplaced: boolean,
): Position | undefined {
  const top = { epoch: read.epoch, offset: read.top };
  if (after === undefined) return (blind && read.top > 0) || unplaced ? top : undefined;
  const first = read.entries[0]?.offset ?? read.top + 1;
  const complete =
    after.epoch === read.epoch
      ? continuous(read, after)
      : !suspect && first === 1 && (read.entries.at(-1)?.offset ?? 0) === read.top;
  if (complete && !unplaced) return undefined;
  // Entries of the read's epoch trimmed away are lost too, also for sessions that joined in it.
  return first > (after.epoch === read.epoch ? after.offset + 1 : 1)
    ? { epoch: read.epoch, offset: first - 1 }
    : { epoch: after.epoch, offset: after.offset + 1 };
}

/**
 * The first of `entries` (received before a fill's read) that the read does
 * not place: of another epoch (but `left`, whose rest was told lost) or past its top.
 */
export function unplacedBy(
  read: PositionedRead,
  entries: readonly PositionedNotify[],
  left: string | undefined,
): PositionedNotify | undefined {
  return entries.find(
    ({ pos }) => pos.epoch !== left && (pos.epoch !== read.epoch || pos.offset > read.top),
  );
}

/** Who the live flow of a track skips, as of now (a snapshot: async `prepare` sends later). */
export function liveAudience(track: Track, pos: Position): Audience {
  const text = formatPosition(pos);
  if (track.joining.size === 0 && track.floors.size === 0) return { pos: text };
  const joining = new Set(track.joining);
  const floors = new Map(track.floors);
  return { pos: text, skip: (s) => joining.has(s) || covered(floors.get(s), pos) };
}
