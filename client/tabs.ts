/**
 * Messages between the tabs that share one stream (SPEC §7), over
 * `BroadcastChannel`: the shared channel carries what every tab hears (who
 * holds the stream, heartbeats, status) and what tabs ask of the holder; each
 * tab's own channel carries what the holder addresses to that tab only (its
 * events, its answers). Names of channels and locks, and the type guard for
 * what arrives. No I/O here.
 */
import { isTopic, type Topic } from "../protocol/keys.js";
import {
  isSessionId,
  isTabId,
  type ListenItem,
  type LostKey,
  lostKeys,
  type TabId,
} from "../protocol/wire.js";

/** A listen answered with an error: enough to rebuild the `RequestError`. */
export interface TabError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** One listen of a tab, as it sends it to the holder. */
export interface TabListen {
  readonly topic: Topic;
  readonly item: ListenItem;
  /** In a `join`: the tab had it confirmed already (so it may be owed events it missed). */
  readonly confirmed?: boolean;
  /** In a `join`: the key's position in this tab (SPEC §6), to recover from if the session is gone. */
  readonly pos?: string;
  /** In a `join`: the event id that brought `pos` (how tabs' positions are ordered). */
  readonly at?: string;
}

/** A key replayed for a tab that joined late (SPEC §6): recovered up to `pos`, or not. */
export interface Replayed {
  readonly topic: Topic;
  readonly recovered: boolean;
  readonly pos: string | undefined;
}

/** Status as the holder's stream client reports it (the `onStatus` value). */
export type TabStatus = Readonly<Record<string, unknown>> & {
  readonly state: "connecting" | "open" | "closed";
  readonly session: string | undefined;
};

/** Heard by every tab, from the holder. `term` counts holders up; the highest one wins. */
export type HolderMessage =
  | { readonly type: "lead"; readonly term: number; readonly tab: TabId }
  | {
      readonly type: "beat";
      readonly term: number;
      readonly tab: TabId;
      /** The last event id the holder relayed: where a successor resumes. */
      readonly last: string | undefined;
      readonly tabs: number;
    }
  | {
      readonly type: "resign";
      readonly term: number;
      readonly tab: TabId;
      readonly last: string | undefined;
    }
  | {
      readonly type: "status";
      readonly term: number;
      readonly tab: TabId;
      readonly status: TabStatus;
      readonly tabs: number;
    }
  /**
   * What the server may hold for the session changed: `add` and `remove` of
   * topics, or (`all`) the whole of it in `add`. Every tab keeps it, so that
   * a successor unlistens what the server holds and no tab wants.
   */
  | {
      readonly type: "held";
      readonly term: number;
      readonly tab: TabId;
      readonly add: readonly TabListen[];
      readonly remove: readonly Topic[];
      readonly all: boolean;
    };

/** From a tab to whichever tab holds the stream. */
export type RequestMessage =
  | {
      readonly type: "join";
      readonly from: TabId;
      readonly listens: readonly TabListen[];
      /** The last event id this tab took: the holder sends what came after it. */
      readonly after: string | undefined;
    }
  | ({ readonly type: "listen"; readonly from: TabId } & TabListen)
  | ({ readonly type: "unlisten"; readonly from: TabId; readonly req: number } & TabListen)
  | { readonly type: "leave"; readonly from: TabId }
  | { readonly type: "ping"; readonly from: TabId }
  | { readonly type: "restart"; readonly from: TabId };

/** From the holder to one tab, on that tab's channel. */
export type DirectMessage =
  | {
      readonly type: "event";
      readonly term: number;
      readonly name: string;
      readonly id: string;
      /** The event's data, as the stream carried it. */
      readonly text: string;
    }
  /** An event left out for this tab (`notfor`): its id still moves the tab's cursor. */
  | { readonly type: "skip"; readonly term: number; readonly id: string }
  | {
      readonly type: "listened";
      readonly term: number;
      readonly topic: Topic;
      readonly error: TabError | undefined;
      /**
       * The holder's last event id when it confirmed: the tab has every event
       * it wants up to there (the ones before came on this channel first).
       */
      readonly at: string | undefined;
      /** The key's position then (SPEC §6), when the tab has none of this session yet. */
      readonly pos?: string;
    }
  | { readonly type: "unlistened"; readonly term: number; readonly req: number }
  /**
   * This tab joined too late for the events the holder keeps: the holder
   * asks the server to replay these topics after the tab's positions (its
   * later notifications on them wait for the replay).
   */
  | { readonly type: "replaying"; readonly term: number; readonly topics: readonly Topic[] }
  /** What the replays answered: `pos` is the key's position then (the replay ends there). */
  | {
      readonly type: "replayed";
      readonly term: number;
      readonly items: readonly Replayed[];
      /** Every key of the tab that may have missed notifications (not recovered, no position). */
      readonly lost: readonly LostKey[];
    };

export type TabMessage = HolderMessage | RequestMessage | DirectMessage;

/** Names of the channels and locks of one hub `url` in this origin. */
export interface TabNames {
  readonly channel: string;
  readonly lock: string;
  readonly steal: string;
  tabChannel(tab: string): string;
  /** A lock each tab holds while it lives: the holder finds dead tabs by it. */
  presence(tab: string): string;
  /** The tab id of a presence lock's name; undefined for another lock. */
  presenceOf(lock: string): string | undefined;
}

/** The names for `url` (resolved against the page) in `origin`. */
export function tabNames(origin: string, url: string): TabNames {
  const prefix = `sse-notif ${origin} ${url}`;
  return {
    channel: prefix,
    lock: `${prefix} stream`,
    steal: `${prefix} steal`,
    tabChannel: (tab) => `${prefix} tab ${tab}`,
    presence: (tab) => `${prefix} alive ${tab}`,
    presenceOf: (lock) =>
      lock.startsWith(`${prefix} alive `) ? lock.slice(`${prefix} alive `.length) : undefined,
  };
}

/** A new tab id: random, the shape of a session id. */
export function newTabId(): TabId {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") as TabId;
}

type Check = (value: Record<string, unknown>) => boolean;

const isTerm = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isOptionalId = (v: unknown) => v === undefined || typeof v === "string";
const isItem = (v: unknown): v is ListenItem =>
  isRecord(v) && typeof v.notifier === "string" && "key" in v;
/** A listen's topic is its item's (the holder reads the key id off it). */
const isListen = (v: unknown): v is TabListen =>
  isRecord(v) &&
  isItem(v.item) &&
  isTopic(v.topic) &&
  v.topic.startsWith(`${v.item.notifier}:`) &&
  isOptionalId(v.pos) &&
  isOptionalId(v.at);
const isReplayed = (v: unknown) =>
  isRecord(v) &&
  typeof v.topic === "string" &&
  typeof v.recovered === "boolean" &&
  isOptionalId(v.pos);
const isError = (v: unknown) =>
  v === undefined ||
  (isRecord(v) &&
    typeof v.status === "number" &&
    typeof v.code === "string" &&
    typeof v.message === "string");
const isStatus = (v: unknown) =>
  isRecord(v) &&
  (v.state === "connecting" || v.state === "open" || v.state === "closed") &&
  (v.session === undefined || isSessionId(v.session));
const fromHolder: Check = (m) => isTerm(m.term) && isTabId(m.tab);
const fromTab: Check = (m) => isTabId(m.from);
const direct: Check = (m) => isTerm(m.term);

const CHECKS: Record<TabMessage["type"], Check> = {
  lead: fromHolder,
  beat: (m) => fromHolder(m) && isOptionalId(m.last) && Number.isSafeInteger(m.tabs),
  resign: (m) => fromHolder(m) && isOptionalId(m.last),
  status: (m) => fromHolder(m) && isStatus(m.status) && Number.isSafeInteger(m.tabs),
  held: (m) =>
    fromHolder(m) &&
    Array.isArray(m.add) &&
    m.add.every(isListen) &&
    Array.isArray(m.remove) &&
    m.remove.every(isTopic) &&
    typeof m.all === "boolean",
  join: (m) =>
    fromTab(m) && Array.isArray(m.listens) && m.listens.every(isListen) && isOptionalId(m.after),
  listen: (m) => fromTab(m) && isListen(m),
  unlisten: (m) => fromTab(m) && isListen(m) && Number.isSafeInteger(m.req),
  leave: fromTab,
  ping: fromTab,
  restart: fromTab,
  event: (m) =>
    direct(m) &&
    typeof m.name === "string" &&
    typeof m.id === "string" &&
    typeof m.text === "string",
  skip: (m) => direct(m) && typeof m.id === "string",
  listened: (m) =>
    direct(m) && isTopic(m.topic) && isError(m.error) && isOptionalId(m.at) && isOptionalId(m.pos),
  unlistened: (m) => direct(m) && Number.isSafeInteger(m.req),
  replaying: (m) => direct(m) && Array.isArray(m.topics) && m.topics.every(isTopic),
  replayed: (m) =>
    direct(m) &&
    Array.isArray(m.items) &&
    m.items.every(isReplayed) &&
    lostKeys(m.lost) !== undefined,
};

/** The message in `data`, or undefined when it is none (another version, garbage). */
export function parseTabMessage(data: unknown): TabMessage | undefined {
  if (!isRecord(data) || typeof data.type !== "string" || !Object.hasOwn(CHECKS, data.type))
    return undefined;
  return CHECKS[data.type as TabMessage["type"]](data)
    ? (data as unknown as TabMessage)
    : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
