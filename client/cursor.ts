/**
 * Where a tab is in the shared session's event stream: the last event id it
 * took. Pure. Tabs sharing one stream may be handed an event twice across a
 * handover (the new holder resumes from an earlier id than the old one
 * relayed, or a thawed old holder relays what it had queued); the cursor
 * takes each `<session>:<seq>` once.
 */
import { type EventId, parseEventId } from "../protocol/wire.js";

export class EventCursor {
  #last: EventId | undefined;

  /** The last event id taken, as the stream wrote it. */
  get last(): string | undefined {
    return this.#last && `${this.#last.session}:${this.#last.seq}`;
  }

  /**
   * Takes `id` when it comes after the last one of its session (or starts
   * another session); false for an id already passed or malformed.
   */
  accept(id: string): boolean {
    const parsed = parseEventId(id);
    if (!parsed) return false;
    if (this.#last?.session === parsed.session && parsed.seq <= this.#last.seq) return false;
    this.#last = parsed;
    return true;
  }
}

/**
 * The later of two event ids: of one session, the higher seq; of two
 * sessions, `preferred` (the one the tabs heard of last). Resuming from an
 * earlier id than needed only replays events the cursors then drop; resuming
 * from a later one would lose some, so when in doubt the lower seq is not kept.
 */
export function laterId(
  preferred: string | undefined,
  other: string | undefined,
): string | undefined {
  const a = parseEventId(preferred);
  const b = parseEventId(other);
  if (!a) return b ? other : undefined;
  if (!b || a.session !== b.session) return preferred;
  return a.seq >= b.seq ? preferred : other;
}

/**
 * The earlier of two ids of `current`'s session (where a stream may resume
 * so that every tab's events since its own id are replayed); an id of
 * another session, or a malformed one, is ignored.
 */
export function earlierId(
  current: string | undefined,
  other: string | undefined,
): string | undefined {
  const a = parseEventId(current);
  const b = parseEventId(other);
  if (!a || !b || a.session !== b.session) return current;
  return b.seq < a.seq ? other : current;
}
