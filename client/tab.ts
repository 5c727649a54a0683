/**
 * One tab of the tabs that share a stream (SPEC §7). It follows the holder
 * with the highest `term` it hears of, reaches it through `BroadcastChannel`
 * (itself directly when it is the holder), watches its heartbeat and takes
 * the lock from a silent one; when it gets the lock it runs the
 * {@link Leader}, resuming the session from the last event id it heard of
 * (or recovering it by the tabs' positions). Back from the page cache, it
 * joins again, declaring its listens and positions anew.
 */

import { SESSION_HEADER, TAB_HEADER, type TabId } from "../protocol/wire.js";
import type { NotifClientOptions } from "./client.js";
import { laterId } from "./cursor.js";
import { Election } from "./election.js";
import { BEAT, Leader, STALE } from "./leader.js";
import { mayNameSession } from "./origin.js";
import { TabChannels } from "./tabchannels.js";
import { abandonReplays, applyDirect } from "./tabdirect.js";
import { TabEvents } from "./tabevents.js";
import { HeldTopics } from "./tabheld.js";
import { TabListens } from "./tablistens.js";
import {
  type DirectMessage,
  type HolderMessage,
  newTabId,
  parseTabMessage,
  type RequestMessage,
  type TabListen,
  type TabNames,
  tabNames,
} from "./tabs.js";
import { TabReport } from "./tabstatus.js";
import { readLastId, writeLastId } from "./tabstorage.js";

export class SharedTab {
  readonly id: TabId = newTabId();
  readonly listens: TabListens;
  readonly events: TabEvents;
  readonly report: TabReport;
  readonly #options: NotifClientOptions;
  readonly #names: TabNames;
  readonly #channels: TabChannels;
  readonly #election: Election;
  /** What the server may hold for the session, as the holder tells. */
  readonly #held = new HeldTopics();
  #term = 0;
  #holder: string | undefined;
  #heard = Date.now();
  /** When {@link #watch} last ran. */
  #watched = Date.now();
  #resume: string | undefined;
  #leader: Leader | undefined;
  #closed = false;
  #hidden = false;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(options: NotifClientOptions) {
    this.#options = options;
    const url = new URL(options.url.replace(/\/+$/, ""), location.href).href;
    this.#names = tabNames(location.origin, url);
    this.#channels = new TabChannels(this.#names, this.id);
    this.#resume = readLastId();
    this.listens = new TabListens(
      (request) => this.#request({ ...request, from: this.id }),
      (topic) => this.events.positions.forget(topic),
    );
    this.events = new TabEvents(this.id, (topic) => this.listens.wants(topic));
    this.report = new TabReport(this.listens);
    this.#election = new Election(this.#names, this.id, {
      onLead: () => this.#onLead(),
      onLost: () => this.#stepDown(),
    });
    this.#timer = setInterval(() => this.#watch(), BEAT);
    addEventListener("pagehide", this.#onPageHide);
    addEventListener("pageshow", this.#onPageShow);
    this.#join();
  }

  /** `client.fetch`: names the session and this tab, so that `notfor: req` leaves out this tab only. */
  fetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(this.#options.headers ?? {}))
      if (!headers.has(name)) headers.set(name, value);
    const session = this.report.status.session;
    if (session !== undefined && mayNameSession(input, this.#options.url)) {
      headers.set(SESSION_HEADER, session);
      headers.set(TAB_HEADER, this.id);
    }
    const credentials = this.#options.withCredentials ? "include" : "same-origin";
    const doFetch = this.#options.fetch ?? globalThis.fetch.bind(globalThis);
    return doFetch(input, { ...init, headers, credentials: init.credentials ?? credentials });
  }

  /** `client.reconnect()`: the holder starts a new session for every tab. */
  reconnect(): void {
    if (!this.#closed) this.#request({ type: "restart", from: this.id });
  }

  close(): void {
    if (this.#closed) return;
    this.#leave();
    this.#closed = true;
    clearInterval(this.#timer);
    removeEventListener("pagehide", this.#onPageHide);
    removeEventListener("pageshow", this.#onPageShow);
    this.listens.close();
    this.report.closed();
  }

  /** Starts (again) to take part: channels, presence, the wait for the lock, a ping to find the holder. */
  #join(): void {
    this.#hidden = false;
    this.#channels.open(
      (data) => this.#onShared(data),
      (data) => this.#onDirect(data),
    );
    this.#heard = Date.now();
    void this.#election.start();
    this.#post({ type: "ping", from: this.id });
  }

  /** Stops taking part: hands the stream over, or ends the session when no tab is left. */
  #leave(): void {
    const leader = this.#leader;
    this.#leader = undefined;
    if (leader && leader.tabs > 1) {
      const last = leader.detach();
      this.#post({ type: "resign", term: this.#term, tab: this.id, last });
      this.#resume = laterId(last, this.#resume);
    } else if (leader) leader.close();
    else this.#post({ type: "leave", from: this.id });
    this.#hidden = true;
    writeLastId(laterId(this.#resume, this.events.cursor.last));
    this.#holder = undefined;
    this.#election.stop();
    this.#channels.close();
  }

  readonly #onPageHide = (): void => {
    if (!this.#closed) this.#leave();
  };

  readonly #onPageShow = (event: PageTransitionEvent): void => {
    // Back from the page cache: the holder sends what this tab missed, or it is recovered by position.
    if (!event.persisted || this.#closed || !this.#hidden) return;
    this.#join();
  };

  /** Followers: ping a quiet holder, take the lock from a silent one. */
  #watch(): void {
    const now = Date.now();
    const late = now - this.#watched > STALE; // this tab was frozen: the holder may not be
    this.#watched = now;
    if (this.#closed || this.#hidden || this.#leader) return;
    if (late) this.#heard = now; // what it said meanwhile may still be queued: hear it first
    const silent = now - this.#heard;
    if (silent > STALE) void this.#election.steal().catch(() => {});
    else if (silent > BEAT * 1.5) this.#post({ type: "ping", from: this.id });
  }

  #onLead(): void {
    if (this.#closed || this.#hidden) {
      this.#election.release();
      return;
    }
    this.#term += 1;
    this.#holder = this.id;
    const leader = new Leader({
      tab: this.id,
      term: this.#term,
      options: this.#options,
      resumeFrom: laterId(this.#resume, this.events.cursor.last),
      sendTo: (tab, message) => this.#sendTo(tab, message),
      broadcast: (message) => this.#broadcast(message),
      alive: (tabs) => this.#election.alive(tabs),
      present: () => this.#election.present(),
      held: () => this.#held.entries(),
    });
    this.#leader = leader;
    this.#broadcast({ type: "lead", term: this.#term, tab: this.id });
    abandonReplays(this);
    this.listens.newHolder();
    const after = this.events.cursor.last;
    leader.handle({ type: "join", from: this.id, listens: this.#declared(), after });
    this.#checkOwnership(leader);
    this.report.share({ leader: true });
  }

  /** A thawed holder whose lock was stolen steps down even before it hears the new holder. */
  #checkOwnership(leader: Leader): void {
    const check = setInterval(() => {
      if (this.#leader !== leader) {
        clearInterval(check);
        return;
      }
      void this.#election.owns().then((owns) => {
        if (!owns && this.#leader === leader) this.#stepDown();
      });
    }, STALE);
  }

  #stepDown(): void {
    const leader = this.#leader;
    if (!leader) return;
    this.#leader = undefined;
    this.#resume = laterId(this.#resume, leader.detach());
    this.#channels.closeTabs();
    this.#election.release();
    this.#heard = Date.now();
    if (!this.#closed && !this.#hidden) this.#election.wait();
    this.report.share({ leader: false });
  }

  /** Does `term`/`tab` name the current holder, after following it when it is newer? */
  #follow(term: number, tab: string): boolean {
    const newer = term > this.#term || (term === this.#term && tab > (this.#holder ?? ""));
    if (newer) {
      this.#term = term;
      this.#holder = tab;
      if (this.#leader && tab !== this.id) this.#stepDown();
      abandonReplays(this);
      const after = this.events.cursor.last;
      if (tab !== this.id)
        this.#post({ type: "join", from: this.id, listens: this.#declared(), after });
      this.listens.newHolder();
      this.report.holderGone();
    }
    return term === this.#term && tab === this.#holder;
  }

  /** This tab's listens, with its positions, for a new holder. */
  #declared(): TabListen[] {
    return this.listens.all().map((listen) => {
      const place = this.events.positions.place(listen.topic);
      return place ? { ...listen, pos: place.pos, at: place.at } : listen;
    });
  }

  #onShared(data: unknown): void {
    const message = parseTabMessage(data);
    if (!message || this.#closed || this.#hidden) return; // a tab that left hears nothing more
    if ("from" in message) {
      this.#leader?.handle(message);
      return;
    }
    if (!("tab" in message) || !this.#follow(message.term, message.tab)) return;
    this.#heard = Date.now();
    if (message.type === "beat" || message.type === "resign")
      this.#resume = laterId(message.last, this.#resume);
    if (message.type === "beat" || message.type === "status")
      this.report.share({ tabs: message.tabs });
    if (message.type === "status") this.report.holder(message.status);
    if (message.type === "held") this.#held.apply(message);
  }

  #onDirect(data: unknown): void {
    const message = parseTabMessage(data);
    if (!message || this.#closed || this.#hidden || !("term" in message)) return;
    if (message.term < this.#term) return;
    applyDirect(this, message);
  }

  #request(message: RequestMessage): boolean {
    const leader = this.#leader;
    if (leader) {
      queueMicrotask(() => leader.handle(message));
      return true;
    }
    if (this.#holder === undefined) return false;
    this.#post(message);
    return true;
  }

  #sendTo(tab: string, message: DirectMessage): void {
    if (tab === this.id) {
      queueMicrotask(() => this.#onDirect(message));
      return;
    }
    this.#channels.sendTo(tab, message);
  }

  #broadcast(message: HolderMessage): void {
    this.#post(message);
    queueMicrotask(() => this.#onShared(message));
  }

  #post(message: HolderMessage | RequestMessage): void {
    if (!this.#closed && !this.#hidden) this.#channels.post(message);
  }
}
