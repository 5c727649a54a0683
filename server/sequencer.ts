/**
 * Notifications in position order (SPEC §5.8, §6), between the bus
 * (broadcast.ts) and the delivery (delivery.ts), when the hub keeps history.
 * Per topic this node serves (a track, track.ts) the sequencer knows the
 * last position it delivered. A notification right after it goes on; one
 * already had is dropped; one past a hole waits (with every later one) while
 * the hole is read from the history (recovery.ts) and delivered in order,
 * or, when the history no longer has it, while the listeners are told `gap`.
 * A listen with `since` is served the same way (join.ts). Everything a topic
 * delivers goes through its notifier's per-key order (key-order.ts), so
 * async `prepare` keeps this order too.
 */
import type { Topic } from "../protocol/keys.js";
import type { AnyDelivery, Audience } from "./delivery.js";
import { toError } from "./errors.js";
import { type JoinHost, join, type ListenAnswer } from "./join.js";
import { formatPosition, type Position } from "./positions.js";
import type { TopicListeners } from "./registry.js";
import type { Session } from "./session.js";
import {
  covered,
  joinMode,
  liveAudience,
  missed,
  newTrack,
  type PositionedNotify,
  type PositionedRead,
  type Track,
  unplacedBy,
} from "./track.js";

/** What the sequencer needs from its hub. */
export interface SequencerHost {
  listeners(topic: Topic): TopicListeners<Session> | undefined;
  /** The history of a topic (see `Bus.read`). */
  read(topic: Topic, after?: Position): Promise<PositionedRead>;
  /** Hands a notification to its notifier (with this node's echo bookkeeping). */
  deliver(delivery: AnyDelivery, topic: Topic, entry: PositionedNotify, audience: Audience): void;
  /** Writes a `gap` event naming `lost` to a session. */
  tellGap(session: Session, lost: readonly { notifier: string; key: unknown }[]): void;
  /** Takes back a listen that failed (its `since` could not be read): nothing of it applied. */
  unlisten(session: Session, topic: Topic): void;
  onError(error: Error, context: object): void;
  /** Is the bus connection down (its return calls `check()`)? Absent: never. */
  busDown?(): boolean;
}

/** A listen item on its way: `start` once registered and subscribed; `answer` settles after. */
export interface Join {
  start(): void;
  /** `undefined` when no answer was asked and the history could not be read. */
  readonly answer: Promise<ListenAnswer | undefined>;
}

export class Sequencer {
  readonly #host: SequencerHost;
  readonly #tracks = new Map<Topic, Track>();
  readonly #joins: JoinHost;

  constructor(host: SequencerHost) {
    this.#host = host;
    this.#joins = { ...host, gap: (track, lost) => this.#gap(track, lost) };
  }

  /** A notification with a position on a topic (dropped when nobody here listens). */
  receive(topic: Topic, entry: PositionedNotify): void {
    const track = this.#tracks.get(topic);
    if (!track) return;
    if (track.busy > 0) track.buffer.push(entry);
    else this.#process(track, entry);
  }

  /**
   * Called before `session`'s listen on `item.topic` is registered: from now
   * on the live flow of that topic waits, until the returned join, once
   * started, has read the history. `undefined` when nothing need be read.
   * With `replay`, a session that listens to the topic already is replayed
   * what comes after `since` too (the live flow goes on to it meanwhile:
   * it repeats some, which its tabs drop by position).
   */
  enter(
    session: Session,
    item: { readonly topic: Topic; readonly delivery: AnyDelivery; readonly key: unknown },
    since: Position | undefined,
    answer: boolean,
    replay = false,
  ): Join | undefined {
    let track = this.#tracks.get(item.topic);
    if (!track) {
      track = newTrack(item);
      this.#tracks.set(item.topic, track);
    }
    if (!answer && track.last !== undefined) return undefined;
    // a key named twice in one batch is joined (and replayed) once
    const mode = joinMode(track.joining.has(session), session.topics.has(item.topic), replay);
    if (mode === "new") track.joining.add(session);
    let start = () => {};
    const ready = new Promise<void>((resolve) => {
      start = resolve;
    });
    const joined = track;
    const answered = this.#enqueue(track, async () => {
      await ready;
      return join(this.#joins, joined, session, { since, mode, answer });
    });
    return { start, answer: answered };
  }

  /** A key's position now. */
  async position(topic: Topic): Promise<{ pos: string }> {
    const read = await this.#host.read(topic);
    return { pos: formatPosition({ epoch: read.epoch, offset: read.top }) };
  }

  /** Nobody here listens to `topic` any more. */
  release(topic: Topic): void {
    const track = this.#tracks.get(topic);
    if (!track) return;
    track.dead = true;
    track.buffer.length = 0;
    this.#tracks.delete(topic);
  }

  /** The bus connection was lost: what was published meanwhile may be missed. */
  suspectAll(): void {
    for (const track of this.#tracks.values()) track.suspect = true;
  }

  /** Checks the history of `topics` (all suspect ones when absent) for what was missed. */
  check(topics?: Iterable<Topic>): void {
    const tracks = topics
      ? [...topics].flatMap((topic) => this.#tracks.get(topic) ?? [])
      : [...this.#tracks.values()].filter((track) => track.suspect);
    for (const track of tracks) {
      track.suspect = true;
      this.#enqueue(track, () => this.#fill(track)).catch((error: unknown) => {
        this.#host.onError(toError(error), { during: "history check", topic: track.topic });
      });
    }
  }

  #enqueue<T>(track: Track, op: () => Promise<T>): Promise<T> {
    track.busy += 1;
    const run = track.chain.then(op);
    track.chain = run
      .catch(() => {}) // the caller of the op gets its error
      .finally(() => {
        track.busy -= 1;
        this.#pump(track);
      });
    return run;
  }

  #pump(track: Track): void {
    while (track.busy === 0 && !track.dead && track.buffer.length > 0) {
      this.#process(track, track.buffer.shift() as PositionedNotify);
    }
  }

  #process(track: Track, entry: PositionedNotify): void {
    const { pos } = entry;
    if (pos.epoch === track.left) return; // told lost when the track left that epoch
    const last = track.last;
    if (last !== undefined) {
      if (pos.epoch === last.epoch && pos.offset <= last.offset) return; // had it (a replay met its live copy)
      const next =
        pos.epoch === last.epoch
          ? pos.offset === last.offset + 1
          : pos.offset === 1 && !track.suspect;
      if (!next) {
        this.#hole(track, entry); // a hole, or a new epoch with maybe something lost before it
        return;
      }
    } else if (track.blind) {
      this.#hole(track, entry); // read first: what came before this one is unknown
      return;
    }
    this.#deliver(track, entry);
  }

  #hole(track: Track, entry: PositionedNotify): void {
    track.buffer.unshift(entry);
    this.#enqueue(track, () => this.#fill(track)).catch((error: unknown) => {
      this.#host.onError(toError(error), { during: "history fill", topic: track.topic });
    });
  }

  #deliver(track: Track, entry: PositionedNotify): void {
    track.last = entry.pos;
    this.#host.deliver(track.delivery, track.topic, entry, liveAudience(track, entry.pos));
    if (track.floors.size === 0) return;
    for (const [session, floor] of track.floors) {
      if (floor.pos.epoch === entry.pos.epoch && floor.pos.offset <= entry.pos.offset)
        track.floors.delete(session);
    }
  }

  /** Reads what this node missed on a topic and delivers it in order, or tells `gap`. */
  async #fill(track: Track): Promise<void> {
    const after = track.last;
    const blind = track.blind;
    track.blind = false; // told below either way
    const known = track.buffer.length; // received before the read: the read places each of them
    const read = await this.#readRetrying(track, after);
    if (!read && track.suspect && this.#host.busDown?.()) {
      // Unknown, not lost: the check when the bus is back reads again from `after`.
      track.blind = blind;
      return;
    }
    if (!read) {
      if (after || blind)
        this.#gap(track, after && { epoch: after.epoch, offset: after.offset + 1 });
      track.last = undefined; // unknown: the next notification starts the count again
      return;
    }
    if (track.dead) return;
    // One the read does not place (another epoch, past its top) never will be: dropped, told lost.
    const unplaced = unplacedBy(read, track.buffer.splice(0, known), track.left);
    if (unplaced) {
      const error = new Error(`a notification at ${formatPosition(unplaced.pos)} no history holds`);
      this.#host.onError(error, { during: "history fill", topic: track.topic });
    }
    const lost = missed(read, after, track.suspect, blind, unplaced !== undefined);
    if (lost) this.#gap(track, lost);
    // Left for another epoch, the old one's rest told lost: a late live one of it (published
    // before the read, received after it) is part of that gap, not a new hole.
    if (lost && after && after.epoch !== read.epoch) track.left = after.epoch;
    if (after !== undefined) {
      for (const { offset, entry } of read.entries) {
        if (after.epoch !== read.epoch || offset > after.offset) this.#deliver(track, entry);
      }
    }
    track.last = { epoch: read.epoch, offset: read.top };
    track.suspect = false;
  }

  /**
   * Reads a topic's history for a fill, trying again a few times (0.1, 0.2,
   * 0.4, 0.8 s: a connection just back may not be ready) while the live flow
   * waits; `undefined` (reported) when it still fails.
   */
  async #readRetrying(
    track: Track,
    after: Position | undefined,
  ): Promise<PositionedRead | undefined> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.#host.read(track.topic, after);
      } catch (error) {
        if (attempt >= 4 || track.dead) {
          this.#host.onError(toError(error), { during: "history read", topic: track.topic });
          return undefined;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
  }

  /** Tells the topic's listeners (but sessions that joined past `lost`) that something is lost. */
  #gap(track: Track, lost: Position | undefined): void {
    const listeners = this.#host.listeners(track.topic);
    if (!listeners) return;
    const sessions = [...listeners.sessions].filter(
      (s) => !track.joining.has(s) && !(lost && covered(track.floors.get(s), lost)),
    );
    const items = [{ notifier: track.delivery.def.name, key: track.key }];
    track.delivery.after(track.topic, () => {
      for (const session of sessions) this.#host.tellGap(session, items);
    });
  }
}
