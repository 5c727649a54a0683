/**
 * What a sharing tab does with a message the holder sent to it alone: an
 * event relayed, its cursor moved on, a listen or unlisten answered, a replay
 * by position begun or ended. Only the tab's own pieces (tabevents.ts,
 * tablistens.ts, tabstatus.ts) change; no I/O.
 */
import { isTopic } from "../protocol/keys.js";
import type { TabEvents } from "./tabevents.js";
import type { TabListens } from "./tablistens.js";
import type { TabMessage } from "./tabs.js";
import type { TabReport } from "./tabstatus.js";

/** The pieces of a tab a direct message reaches. */
export interface DirectHost {
  readonly events: TabEvents;
  readonly listens: TabListens;
  readonly report: TabReport;
}

/** Applies one message of the current holder to `tab` (a message of another kind is not for it). */
export function applyDirect(tab: DirectHost, message: TabMessage): void {
  const { events, listens, report } = tab;
  switch (message.type) {
    case "event":
      events.take(message.id, message.name, message.text);
      break;
    case "skip":
      events.cursor.accept(message.id);
      break;
    case "listened":
      if (message.at !== undefined && !message.error) events.cursor.accept(message.at);
      if (!message.error && listens.wants(message.topic))
        events.positions.listened(message.topic, message.pos, message.at);
      listens.listened(message.topic, message.error);
      break;
    case "unlistened":
      listens.unlistened(message.req);
      break;
    case "replaying":
      for (const topic of message.topics) if (listens.wants(topic)) events.positions.replay(topic);
      report.replaying();
      break;
    case "replayed":
      for (const { topic, recovered, pos } of message.items)
        events.positions.replayed(topic, recovered, pos);
      report.replayed(message.lost);
      break;
  }
}

/** Replays the old holder asked for `tab` will not end: what waited is taken, its keys told lost. */
export function abandonReplays(tab: DirectHost): void {
  const topics = tab.events.positions.abandon();
  if (topics.length > 0) tab.report.replayed(tab.listens.keysOf(topics.filter(isTopic)), false);
}
