/**
 * Notifications by position (SPEC §5.8, §6). Per topic this node serves, the
 * relay knows the last position it delivered. A notification right after it
 * goes out; one already had is dropped; one past a hole waits (with every
 * later one) while the hole is read from the history and delivered in order,
 * or, when the history no longer has it, while the listeners are told
 * `gap`. A listen with `since` is served the same way: live notifications on
 * its key wait while the history after `since` is read and replayed to that
 * session alone. Everything a topic delivers goes through its notifier's
 * per-key order queue, so async `prepare` keeps this order too.
 */
import { NotifError, toError } from "./errors.js";
import type { NotifyMessage } from "./messages.js";
import type { AnyDelivery, Audience } from "./notifier.js";
import { continuous, formatPosition, type Position } from "./positions.js";
import type { TopicListeners } from "./registry.js";
import type { Session } from "./session.js";

/** A notification with its position, live or from the history. */
export interface RelayEntry {
  readonly pos: Position;
  readonly message: NotifyMessage;
  /** The value's JSON when already made (in-process history). */
  readonly valueJson?: string;
}

/** What the relay reads from a history. */
export interface RelayRead {
  readonly epoch: string;
  readonly top: number;
  readonly entries: readonly { readonly offset: number; readonly entry: RelayEntry }[];
}

/** What the relay needs from its hub. */
export interface RelayHost {
  listeners(topic: string): TopicListeners<Session> | undefined;
  /** The history of a topic (see `Bus.read`). */
  read(topic: string, after?: Position): Promise<RelayRead>;
  /** Hands a notification to its notifier (with this node's echo bookkeeping). */
  deliver(delivery: AnyDelivery, topic: string, entry: RelayEntry, audience: Audience): void;
  /** Writes a `gap` event naming `lost` to a session. */
  tellGap(session: Session, lost: readonly { notifier: string; key: unknown }[]): void;
  /** Takes back a listen that failed (its `since` could not be read): nothing of it applied. */
  unlisten(session: Session, topic: string): void;
  onError(error: Error, context: object): void;
  /** Is the bus connection down (its return calls `check()`)? Absent: never. */
  busDown?(): boolean;
}

/** What `/listen` answers for an item (SPEC §6). */
export interface ListenAnswer {
  readonly pos: string;
  readonly recovered: boolean | null;
}

/** A session that joined at `pos`: it gets nothing at or before it from the live flow. */
interface Floor {
  readonly pos: Position;
  /** The epoch this node was in when the session joined a newer one: all of it is older. */
  readonly older: string | undefined;
}

interface Track {
  readonly topic: string;
  readonly delivery: AnyDelivery;
  readonly key: unknown;
  /** The last position delivered (or, before any, where this node started serving). */
  last: Position | undefined;
  /** Operations queued or running: live entries wait in `buffer` meanwhile. */
  busy: number;
  chain: Promise<unknown>;
  readonly buffer: RelayEntry[];
  /** Sessions whose `since` read is pending: the live flow skips them. */
  readonly joining: Set<Session>;
  readonly floors: Map<Session, Floor>;
  /** The bus connection was lost since `last`: an epoch change is then a gap. */
  suspect: boolean;
  /** Where its listeners started is unknown (the read of a listen failed): the next read tells gap. */
  blind: boolean;
  dead: boolean;
}

/** A listen item on its way: `start` once registered and subscribed; `answer` settles after. */
export interface Join {
  start(): void;
  /** `undefined` when no answer was asked and the history could not be read. */
  readonly answer: Promise<ListenAnswer | undefined>;
}

function covered(floor: Floor | undefined, pos: Position): boolean {
  if (floor === undefined) return false;
  if (pos.epoch === floor.pos.epoch) return pos.offset <= floor.pos.offset;
  return pos.epoch === floor.older;
}

/**
 * After a fill's read from `after`: the first position the topic's listeners
 * lost, or `undefined` when the read proves nothing was. `blind`: where they
 * started is unknown; `unplaced`: a notification had was in no history.
 */
function missed(
  read: RelayRead,
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

export class Relay {
  readonly #host: RelayHost;
  readonly #tracks = new Map<string, Track>();

  constructor(host: RelayHost) {
    this.#host = host;
  }

  /** Topics tracked (for tests and stats). */
  get size(): number {
    return this.#tracks.size;
  }

  /** A notification with a position on a topic (dropped when nobody here listens). */
  receive(topic: string, entry: RelayEntry): void {
    const track = this.#tracks.get(topic);
    if (!track) return;
    if (track.busy > 0) track.buffer.push(entry);
    else this.#process(track, entry);
  }

  /**
   * Called before `session`'s listen on `item.topic` is registered: from now
   * on the live flow of that topic waits, until the returned join, once
   * started, has read the history. `undefined` when nothing need be read.
   */
  enter(
    session: Session,
    item: { readonly topic: string; readonly delivery: AnyDelivery; readonly key: unknown },
    since: Position | undefined,
    answer: boolean,
  ): Join | undefined {
    let track = this.#tracks.get(item.topic);
    if (!track) {
      track = {
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
        dead: false,
      };
      this.#tracks.set(item.topic, track);
    }
    if (!answer && track.last !== undefined) return undefined;
    // a key named twice in one batch is joined (and replayed) once
    const already = session.topics.has(item.topic) || track.joining.has(session);
    if (!already) track.joining.add(session);
    let start = () => {};
    const ready = new Promise<void>((resolve) => {
      start = resolve;
    });
    const joined = track;
    const answered = this.#enqueue(track, async () => {
      await ready;
      try {
        return await this.#join(joined, session, since, already);
      } catch (error) {
        if (answer) {
          // before the live flow resumes: a retry is then a fresh listen, replayed, not an `already` one
          if (!already) this.#host.unlisten(session, joined.topic);
          throw new NotifError("unavailable", "the key's history could not be read: try again", {
            cause: error,
          });
        }
        this.#host.onError(toError(error), { during: "history read", topic: joined.topic });
        joined.suspect = true;
        if (joined.last === undefined) joined.blind = true;
        return undefined;
      }
    });
    return { start, answer: answered };
  }

  /** A key's position now. */
  async position(topic: string): Promise<{ pos: string }> {
    const read = await this.#host.read(topic);
    return { pos: formatPosition({ epoch: read.epoch, offset: read.top }) };
  }

  /** Nobody here listens to `topic` any more. */
  release(topic: string): void {
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
  check(topics?: Iterable<string>): void {
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
      this.#process(track, track.buffer.shift() as RelayEntry);
    }
  }

  #process(track: Track, entry: RelayEntry): void {
    const { pos } = entry;
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

  #hole(track: Track, entry: RelayEntry): void {
    track.buffer.unshift(entry);
    this.#enqueue(track, () => this.#fill(track)).catch((error: unknown) => {
      this.#host.onError(toError(error), { during: "history fill", topic: track.topic });
    });
  }

  #deliver(track: Track, entry: RelayEntry): void {
    track.last = entry.pos;
    this.#host.deliver(track.delivery, track.topic, entry, this.#audience(track, entry.pos));
    if (track.floors.size === 0) return;
    for (const [session, floor] of track.floors) {
      if (floor.pos.epoch === entry.pos.epoch && floor.pos.offset <= entry.pos.offset)
        track.floors.delete(session);
    }
  }

  /** Who the live flow skips, as of now (a snapshot: async `prepare` sends later). */
  #audience(track: Track, pos: Position): Audience {
    const text = formatPosition(pos);
    if (track.joining.size === 0 && track.floors.size === 0) return { pos: text };
    const joining = new Set(track.joining);
    const floors = new Map(track.floors);
    return { pos: text, skip: (s) => joining.has(s) || covered(floors.get(s), pos) };
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
    const unplaced = track.buffer
      .splice(0, known)
      .find(({ pos }) => pos.epoch !== read.epoch || pos.offset > read.top);
    if (unplaced) {
      const error = new Error(`a notification at ${formatPosition(unplaced.pos)} no history holds`);
      this.#host.onError(error, { during: "history fill", topic: track.topic });
    }
    const lost = missed(read, after, track.suspect, blind, unplaced !== undefined);
    if (lost) this.#gap(track, lost);
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
  async #readRetrying(track: Track, after: Position | undefined): Promise<RelayRead | undefined> {
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

  async #join(
    track: Track,
    session: Session,
    since: Position | undefined,
    already: boolean,
  ): Promise<ListenAnswer> {
    try {
      const read = await this.#host.read(track.topic, since);
      const top = { epoch: read.epoch, offset: read.top };
      const recovered = since === undefined ? null : continuous(read, since);
      if (recovered && !already && !track.dead && since) {
        for (const { offset, entry } of read.entries) {
          if (offset <= since.offset) continue;
          const audience = { pos: formatPosition(entry.pos), only: session };
          this.#host.deliver(track.delivery, track.topic, entry, audience);
        }
      }
      const last = track.last;
      if (last === undefined && track.blind && read.top > 0) this.#gap(track, top); // the others
      track.blind &&= last !== undefined;
      if (last === undefined) track.last = top;
      else if (!already && (last.epoch !== top.epoch || last.offset < top.offset)) {
        const older = last.epoch !== top.epoch ? last.epoch : undefined;
        track.floors.set(session, { pos: top, older });
      }
      return { pos: formatPosition(top), recovered };
    } finally {
      track.joining.delete(session);
    }
  }
}
