/**
 * A session taken over from the tab that held a shared stream before (SPEC
 * §7): what that tab left ({@link HandOver}) and what the new stream client
 * does with it when its first session answers ({@link planTakeOver}): pure,
 * {@link Listens} carries the plan out.
 */
import type { Topic } from "../protocol/keys.js";
import type { ListenItem } from "../protocol/wire.js";

/**
 * What the tab that held a shared stream before this client left it (SPEC
 * §7): read once, when the first session answers, resumed or not.
 */
export interface HandOver {
  /**
   * Where the tabs stood on `topic` (the earliest of them): recovered from
   * if the session is gone. `null`: it was listened to, at no known
   * position; `undefined`: not listened to before (a new listen).
   */
  since(topic: Topic): string | null | undefined;
  /** What the server may hold for the session: if it resumes, what no one wants is unlistened. */
  held(): Iterable<[Topic, ListenItem]>;
  /**
   * The server no longer holds a topic of `held()` that was not wanted: its
   * unlisten answered, or the session was new, or lost.
   */
  released?(topic: Topic): void;
}

/** What the first session of a client that took a session over starts with. */
export interface TakeOver {
  /** Held before and wanted by no one, with a new session: released at once. */
  readonly released: Topic[];
  /** Held before and wanted by no one, the session resumed: the server holds them until unlistened. */
  readonly unlisten: [Topic, ListenItem][];
  /**
   * The session is new: the wanted keys listened to before, to recover, each
   * with the tabs' earliest position (`null`: none known).
   */
  readonly recover: [Topic, ListenItem, string | null][];
}

/**
 * Resumed (`fresh` false), the server holds what the previous client held,
 * and what no one wants goes; new, every wanted key listened to before is
 * recovered from the tabs' positions. `holds`: what the server is known to
 * hold already for this client.
 */
export function planTakeOver(
  handOver: HandOver,
  fresh: boolean,
  wanted: { has(topic: Topic): boolean; entries(): Iterable<[Topic, ListenItem]> },
  holds: (topic: Topic) => boolean,
): TakeOver {
  const plan: TakeOver = { released: [], unlisten: [], recover: [] };
  const seen = new Set<Topic>();
  for (const [topic, item] of handOver.held()) {
    if (wanted.has(topic) || holds(topic) || seen.has(topic)) continue;
    if (fresh) plan.released.push(topic);
    else {
      seen.add(topic);
      plan.unlisten.push([topic, item]);
    }
  }
  if (!fresh) return plan;
  for (const [topic, item] of wanted.entries()) {
    const since = handOver.since(topic);
    if (since !== undefined) plan.recover.push([topic, item, since]);
  }
  return plan;
}
