/**
 * What a sharing tab reports: the holder's status (state, session, resumed,
 * gap…) to its `onStatus` handlers, as a client with a stream of its own
 * would, and how many tabs share the stream to its `onShare` handlers.
 */
import type { NotifStatus } from "./client.js";
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

export class TabReport {
  status: NotifStatus = { state: "connecting", session: undefined, resumed: false, gap: false };
  readonly #statusHandlers = new Set<(status: NotifStatus) => void>();
  readonly #shareHandlers = new Set<(info: ShareInfo) => void>();
  #share: ShareInfo = { shared: true, leader: false, tabs: 1 };
  /** Back from the page cache: the next open status is a gap (this tab missed what came). */
  #gapOnce = false;

  onStatus(handler: (status: NotifStatus) => void): () => void {
    this.#statusHandlers.add(handler);
    return () => void this.#statusHandlers.delete(handler);
  }

  onShare(handler: (info: ShareInfo) => void): () => void {
    this.#shareHandlers.add(handler);
    handler(this.#share);
    return () => void this.#shareHandlers.delete(handler);
  }

  /** The holder's status. */
  holder(status: TabStatus): void {
    const value = status as unknown as NotifStatus;
    if (!this.#gapOnce || value.state !== "open") {
      this.set(value);
      return;
    }
    this.#gapOnce = false;
    this.set({ ...value, resumed: false, gap: true });
  }

  /** This tab missed events: the next open status says so. */
  missedSome(): void {
    this.#gapOnce = true;
  }

  /** The holder went: connecting again (as a stream of one's own does when it drops). */
  holderGone(): void {
    if (this.status.state === "open")
      this.set({ ...this.status, state: "connecting", resumed: false, gap: false });
  }

  /** This tab missed events the holder could not send it. */
  gap(): void {
    if (this.status.state === "open") this.set({ ...this.status, resumed: false, gap: true });
    else this.missedSome();
  }

  closed(): void {
    this.set({ ...this.status, state: "closed", session: undefined, resumed: false, gap: false });
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
