/**
 * The sequencer of a hub (sequencer.ts) wired to its history: the hub's own
 * in-process history (history.ts) on a local bus, the bus's history on a
 * shared one (redis-history.ts on Redis). A history read is parsed here.
 */
import type { Topic } from "../protocol/keys.js";
import { type Bus, hasHistory } from "./bus.js";
import type { AnyDelivery, Audience } from "./delivery.js";
import { toError } from "./errors.js";
import { gapEventBody } from "./frames.js";
import { History, type HistoryLimits } from "./history.js";
import { type NotifyMessage, parseTopicMessage, topicChannel } from "./messages.js";
import type { Position } from "./positions.js";
import type { TopicListeners } from "./registry.js";
import { Sequencer } from "./sequencer.js";
import type { Session } from "./session.js";
import type { PositionedNotify, PositionedRead } from "./track.js";

/** A notification as the in-process history keeps it: no serialising on the way in. */
export interface LocalItem {
  readonly message: NotifyMessage;
  readonly valueJson: string;
}

/** What the recovery wiring needs from its hub. */
export interface RecoveryHost {
  readonly bus: Bus;
  readonly history: HistoryLimits | undefined;
  listeners(topic: Topic): TopicListeners<Session> | undefined;
  deliver(delivery: AnyDelivery, topic: Topic, entry: PositionedNotify, audience: Audience): void;
  onError(error: Error, context: object): void;
  /** Takes back a session's listen on a topic (a `since` listen that failed). */
  unlisten(session: Session, topic: Topic): void;
}

/** The hub's sequencer and, on a local bus, its history; both absent without history. */
export interface Recovery {
  readonly sequencer: Sequencer;
  readonly local: History<LocalItem> | undefined;
}

export function makeRecovery(host: RecoveryHost): Recovery | undefined {
  const { bus, history: limits } = host;
  if (!limits) return undefined;
  if (bus.kind !== "local" && !hasHistory(bus)) return undefined;
  const local = bus.kind === "local" ? new History<LocalItem>(limits) : undefined;
  const read = async (topic: Topic, after?: Position): Promise<PositionedRead> => {
    const channel = topicChannel(topic);
    if (local) {
      const { epoch, top, entries } = local.read(channel, after);
      return {
        epoch,
        top,
        entries: entries.map(({ offset, item }) => ({
          offset,
          entry: { pos: { epoch, offset }, ...item },
        })),
      };
    }
    if (!hasHistory(bus)) throw new Error("unreachable: a shared bus without history");
    const { epoch, top, entries } = await bus.read(channel, after);
    return { epoch, top, entries: parseEntries(host, epoch, entries) };
  };
  const sequencer = new Sequencer({
    listeners: host.listeners,
    read,
    deliver: host.deliver,
    tellGap(session, lost) {
      session.push(gapEventBody(session.id, lost));
    },
    unlisten: host.unlisten,
    onError: host.onError,
    busDown: () => bus.status() === "degraded",
  });
  return { sequencer, local };
}

/** Parses history entries; stops at the first bad one (the read is then not continuous). */
function parseEntries(
  host: RecoveryHost,
  epoch: string,
  entries: readonly { readonly offset: number; readonly message: string }[],
): PositionedRead["entries"] {
  const parsed: { offset: number; entry: PositionedNotify }[] = [];
  for (const { offset, message } of entries) {
    try {
      const value = parseTopicMessage(message);
      if (value.type !== "notify") throw new TypeError("a history entry that is not a notify");
      parsed.push({ offset, entry: { pos: { epoch, offset }, message: value } });
    } catch (error) {
      host.onError(toError(error), { during: "history entry", message: message.slice(0, 200) });
      break;
    }
  }
  return parsed;
}
