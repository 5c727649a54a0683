/**
 * What a sharing tab reports: the holder's status (state, session, resumed,
 * gap…) to its `onStatus` handlers, as a client with a stream of its own
 * would, and how many tabs share the stream to its `onShare` handlers.
 */
import type { LostKey } from "../protocol/wire.js";
import { makeStatus, type NotifStatus } from "./status.js";
import type { TabStatus } from "./tabs.js";

/** How a client shares its stream: see `onShare`. */
export interface ShareInfo {
  /** False: this client has a stream of its own (no sharing). */
  readonly shared: boolean;
  /** This tab holds the stream. */
  readonly leader: boolean;
  /** Tabs sharing the stream, this one included. */
  readonly tabs: number;
}

/** The keys of the tab, by which it reports its own gaps. */
export interface TabKeys {
  wantsKey(key: LostKey): boolean;
  keys(): LostKey[];
}

export class TabReport {
  readonly #mine: TabKeys;
  status: NotifStatus = makeStatus("connecting", undefined);
  readonly #statusHandlers = new Set<(status: NotifStatus) => void>();
  readonly #shareHandlers = new Set<(info: ShareInfo) => void>();
  #share: ShareInfo = { shared: true, leader: false, tabs: 1 };
  /** The holder told of a gap while connecting: the next open status is one. */
  #missed: readonly LostKey[] | undefined;
  /** The session of the last open status. */
  #opened: string | undefined;
  /** The holder replays what this tab missed: until it answers, an open status recovered nothing yet. */
  #replaying = false;

  constructor(mine: TabKeys) {
    this.#mine = mine;
  }

  onStatus(handler: (status: NotifStatus) => void): () => void {
    this.#statusHandlers.add(handler);
    return () => void this.#statusHandlers.delete(handler);
  }

  onShare(handler: (info: ShareInfo) => void): () => void {
    this.#shareHandlers.add(handler);
    handler(this.#share);
    return () => void this.#shareHandlers.delete(handler);
  }

  /**
   * The holder's status, as this tab sees it: a gap names only this tab's
   * keys, and is none for this tab when it names only other tabs' keys (on
   * a new session, every key of this tab was then recovered).
   */
  holder(status: TabStatus): void {
    const value = status as unknown as NotifStatus;
    const opened = this.#opened;
    if (value.state === "open") this.#opened = value.session;
    const missed = value.state === "open" ? this.#missed : undefined;
    if (value.state === "open") this.#missed = undefined;
    const lost = missed?.filter((key) => this.#mine.wantsKey(key)) ?? [];
    if (lost.length > 0) {
      this.set({ ...value, resumed: false, recovered: false, gap: true, lost });
      return;
    }
    if (!value.gap) {
      const pending = this.#replaying && value.state === "open";
      this.set(pending ? { ...value, resumed: false, recovered: false } : value);
      return;
    }
    const all = Array.isArray(value.lost) ? value.lost : [];
    const named = all.length === 0 ? this.#mine.keys() : all.filter((k) => this.#mine.wantsKey(k));
    if (all.length === 0 || named.length > 0) {
      this.set({ ...value, lost: named });
      return;
    }
    const recovered = opened !== undefined && value.session !== opened;
    this.set({ ...value, recovered, gap: false, lost: named });
  }

  /** This tab missed events: the next open status says so. */
  missedSome(lost: readonly LostKey[] = this.#mine.keys()): void {
    const keys = new Map([...(this.#missed ?? []), ...lost].map((k) => [JSON.stringify(k), k]));
    this.#missed = [...keys.values()];
  }

  /** The holder went: connecting again (as a stream of one's own does when it drops). */
  holderGone(): void {
    if (this.status.state === "open") this.set(makeStatus("connecting", this.status.session));
  }

  /** This tab missed events the holder could not send it: of `lost`, or of every key. */
  gap(lost?: readonly LostKey[]): void {
    const mine = lost ? lost.filter((key) => this.#mine.wantsKey(key)) : this.#mine.keys();
    if (lost && mine.length === 0) return;
    if (this.status.state !== "open") this.missedSome(mine);
    else this.set({ ...this.status, resumed: false, recovered: false, gap: true, lost: mine });
  }

  /** The holder asked the server to replay what this tab missed (it joined late). */
  replaying(): void {
    this.#replaying = true;
  }

  /**
   * The replay answered: `recovered: true` when no key of this tab was
   * `lost`, a gap of those otherwise; `answered: false`, its holder went
   * first (its keys are `lost`).
   */
  replayed(lost: readonly LostKey[], answered = true): void {
    this.#replaying = false;
    const mine = lost.filter((key) => this.#mine.wantsKey(key));
    if (mine.length > 0) this.gap(mine);
    else if (answered && this.status.state === "open")
      this.set({ ...this.status, resumed: false, recovered: true, gap: false, lost: [] });
  }

  closed(): void {
    this.set(makeStatus("closed", undefined));
  }

  set(status: NotifStatus): void {
    if (JSON.stringify(status) === JSON.stringify(this.status)) return;
    this.status = status;
    for (const handler of [...this.#statusHandlers]) handler(status);
  }

  share(change: Partial<ShareInfo>): void {
    const next = { ...this.#share, ...change };
    if (next.leader === this.#share.leader && next.tabs === this.#share.tabs) return;
    this.#share = next;
    for (const handler of [...this.#shareHandlers]) handler(next);
  }
}
