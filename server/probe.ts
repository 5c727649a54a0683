/**
 * What `sse-notif/metrics` reads from a hub: plain counters bumped in place
 * (nothing allocated per event) and a list of notify-duration observers,
 * empty (so free) unless metrics are collected. Not part of the public API:
 * a hub carries its probe under a registered symbol.
 */
import type { BusStatus } from "./bus.js";
import type { StreamEnd } from "./stream.js";

/** Streams ended, by why. */
export type CutCounts = Record<StreamEnd, number>;

export function cutCounts(): CutCounts {
  return { client: 0, replaced: 0, slow: 0, evicted: 0, closing: 0, failed: 0 };
}

/** What a notifier counted on this node. */
export interface NotifierCounts {
  /** `notify` calls made on this node. */
  notifies: number;
  /** `prepare` calls here that threw, rejected or timed out. */
  prepareErrors: number;
}

/** `since` listens answered here, by whether the history proved continuity. */
export interface RecoveryCounts {
  recovered: number;
  lost: number;
}

/** Told how long a `notify` took, from its call until its promise settled. */
export type NotifyObserver = (notifier: string, seconds: number) => void;

export interface HubProbe {
  stats(): {
    sessions: number;
    streams: number;
    keys: number;
    listens: number;
    sent: number;
    dropped: number;
    bus: BusStatus;
  };
  readonly cuts: Readonly<CutCounts>;
  readonly recoveries: Readonly<RecoveryCounts>;
  /** Every notifier of the hub, by name. */
  notifiers(): Iterable<readonly [string, Readonly<NotifierCounts>]>;
  /** Adds an observer of notify durations; returns its remover. */
  observeNotifies(observer: NotifyObserver): () => void;
}

const PROBE = Symbol.for("sse-notif.probe");

/** Attaches a probe to a hub object (not enumerable: stats and JSON never show it). */
export function attachProbe<T extends object>(hub: T, probe: HubProbe): T {
  Object.defineProperty(hub, PROBE, { value: probe });
  return hub;
}

/** The probe of a hub made by `createHub`; throws a `TypeError` for anything else. */
export function probeOf(hub: unknown): HubProbe {
  const probe =
    typeof hub === "object" && hub !== null ? (hub as { [PROBE]?: HubProbe })[PROBE] : undefined;
  if (!probe) throw new TypeError("sse-notif: collectMetrics takes a hub made by createHub");
  return probe;
}
