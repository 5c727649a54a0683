/**
 * Which tab holds the shared stream, by the Web Locks API: the holder holds
 * an exclusive lock and the other tabs wait on it, so the browser hands it
 * on as soon as the holder closes or crashes. A holder that is frozen keeps
 * its lock; the tabs that stop hearing it take the lock with `steal`, one
 * at a time (a second lock, taken `ifAvailable`, picks the one that steals).
 */
import type { TabNames } from "./tabs.js";

/** What the election tells its tab. */
export interface ElectionHost {
  /** This tab holds the lock now (granted, or stolen from a silent holder). */
  onLead(): void;
  /** The lock was stolen from this tab: it no longer holds the stream. */
  onLost(): void;
}

export class Election {
  readonly #names: TabNames;
  readonly #tab: string;
  readonly #host: ElectionHost;
  #holding = false;
  #waiting: AbortController | undefined;
  #release: (() => void) | undefined;
  #releasePresence: (() => void) | undefined;
  #stealing = false;

  constructor(names: TabNames, tab: string, host: ElectionHost) {
    this.#names = names;
    this.#tab = tab;
    this.#host = host;
  }

  get holding(): boolean {
    return this.#holding;
  }

  /** Holds this tab's presence lock, then waits for the stream's lock. */
  async start(): Promise<void> {
    await new Promise<void>((held) => {
      void locks()
        .request(this.#names.presence(this.#tab), () => {
          held();
          return new Promise<void>((resolve) => {
            this.#releasePresence = resolve;
          });
        })
        .catch(() => {});
    });
    this.wait();
  }

  /** Waits for the lock (again), unless this tab holds it or waits already. */
  wait(): void {
    if (this.#holding || this.#waiting) return;
    const controller = new AbortController();
    this.#waiting = controller;
    this.#request({ signal: controller.signal });
  }

  /** Takes the lock from a holder that went silent, unless another tab does it already. */
  async steal(): Promise<void> {
    if (this.#holding || this.#stealing) return;
    this.#stealing = true;
    try {
      await locks().request(this.#names.steal, { ifAvailable: true }, async (lock) => {
        if (!lock || this.#holding) return;
        this.#waiting?.abort();
        this.#waiting = undefined;
        await new Promise<void>((granted) => this.#request({ steal: true }, granted));
      });
    } finally {
      this.#stealing = false;
    }
  }

  /** Lets go of the lock (the next waiting tab gets it). */
  release(): void {
    this.#holding = false;
    this.#release?.();
    this.#release = undefined;
  }

  /** Lets go of everything: this tab is gone. */
  stop(): void {
    this.#waiting?.abort();
    this.#waiting = undefined;
    this.release();
    this.#releasePresence?.();
  }

  /**
   * Does this tab hold the stream's lock, as the lock manager sees it? (A
   * tab thawed after its lock was stolen may not have heard it yet.)
   */
  async owns(): Promise<boolean> {
    const { held = [] } = await locks().query();
    const me = held.find((lock) => lock.name === this.#names.presence(this.#tab))?.clientId;
    const holder = held.find((lock) => lock.name === this.#names.lock)?.clientId;
    return me === undefined || holder === me;
  }

  /** The tabs alive, by their presence locks (frozen ones included). */
  async alive(tabs: string[]): Promise<Set<string>> {
    const { held = [] } = await locks().query();
    const names = new Set(held.map((lock) => lock.name));
    return new Set(tabs.filter((tab) => names.has(this.#names.presence(tab))));
  }

  /** Every tab alive now (by its presence lock). */
  async present(): Promise<string[]> {
    const { held = [] } = await locks().query();
    const tabs = held.map((lock) => this.#names.presenceOf(lock.name ?? ""));
    return tabs.filter((tab): tab is string => tab !== undefined);
  }

  #request(options: LockOptions, granted?: () => void): void {
    locks()
      .request(this.#names.lock, options, () => {
        this.#waiting = undefined;
        this.#holding = true;
        granted?.();
        return new Promise<void>((resolve) => {
          this.#release = resolve;
          this.#host.onLead();
        });
      })
      .then(
        () => {},
        () => {
          // Aborted while waiting (a steal replaced the wait), or stolen while held.
          if (!this.#holding || this.#release === undefined) return;
          this.#holding = false;
          this.#release = undefined;
          this.#host.onLost();
        },
      );
  }
}

function locks(): LockManager {
  return navigator.locks;
}
