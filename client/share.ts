/**
 * A client whose tabs share one stream and one session (SPEC §7). Every tab
 * runs this; the one that holds the Web Lock also runs a {@link Leader}. A tab
 * reaches the holder through `BroadcastChannel` (itself directly), follows
 * the highest `term` it hears of, watches the holder's heartbeat, and takes
 * over (resuming the session from the last event id it heard of) when the
 * holder goes.
 */
import type { NotifClient, NotifClientOptions, NotifState, NotifStatus } from "./client.js";
import type { NotifierDef } from "./contract.js";
import { EventCursor, laterId } from "./cursor.js";
import { Election } from "./election.js";
import { BEAT, Leader, STALE } from "./leader.js";
import { SESSION_HEADER, TAB_HEADER, type TabId } from "./protocol.js";
import { makeStatus } from "./status.js";
import { TabListens } from "./tablistens.js";
import {
  type DirectMessage,
  type HolderMessage,
  newTabId,
  parseTabMessage,
  type RequestMessage,
  type TabNames,
  type TabStatus,
  tabNames,
} from "./tabs.js";

/** How a client shares its stream: see {@link onShare}. */
export interface ShareInfo {
  /** False: this client has a stream of its own (no sharing). */
  readonly shared: boolean;
  /** This tab holds the stream. */
  readonly leader: boolean;
  /** Tabs sharing the stream, this one included. */
  readonly tabs: number;
}

const infos = new WeakMap<
  NotifClient,
  { get(): ShareInfo; on(h: (i: ShareInfo) => void): () => void }
>();

/**
 * Calls `handler` now and whenever the tabs sharing `client`'s stream change.
 * @example onShare(client, (info) => console.log(`${info.tabs} tabs share one connection`));
 */
export function onShare(client: NotifClient, handler: (info: ShareInfo) => void): () => void {
  const info = infos.get(client);
  if (!info) {
    handler({ shared: false, leader: true, tabs: 1 });
    return () => {};
  }
  return info.on(handler);
}

/** Can this page share a stream between its tabs? */
export function canShare(): boolean {
  return (
    typeof navigator !== "undefined" &&
    typeof navigator.locks?.request === "function" &&
    typeof BroadcastChannel === "function" &&
    typeof location !== "undefined"
  );
}

const STORAGE = "sse-notif last event";

/** A tab's client of a shared stream. */
export function createSharedClient(options: NotifClientOptions): NotifClient {
  const tab = new SharedTab(options);
  const client: NotifClient = {
    listen: (def, key) => tab.listens.listen(def, key),
    unlisten: (def, key) => tab.listens.unlisten(def, key),
    on: (def, handler) => tab.on(def, handler as (key: unknown, value: unknown) => void),
    session: () => tab.status.session,
    state: () => tab.status.state,
    onStatus: (handler) => tab.onStatus(handler),
    fetch: (input, init) => tab.fetch(input, init),
    close: () => tab.close(),
  };
  infos.set(client, { get: () => tab.info(), on: (h) => tab.onShare(h) });
  return client;
}

class SharedTab {
  readonly id: TabId = newTabId();
  readonly listens: TabListens;
  status: NotifStatus = makeStatus("connecting", undefined);
  readonly #options: NotifClientOptions;
  readonly #names: TabNames;
  readonly #channel: BroadcastChannel;
  readonly #own: BroadcastChannel;
  readonly #election: Election;
  readonly #cursor = new EventCursor();
  readonly #handlers = new Map<string, Set<(key: unknown, value: unknown) => void>>();
  readonly #defs = new Map<string, NotifierDef<unknown, unknown>>();
  readonly #statusHandlers = new Set<(status: NotifStatus) => void>();
  readonly #shareHandlers = new Set<(info: ShareInfo) => void>();
  readonly #tabChannels = new Map<string, BroadcastChannel>();
  #term = 0;
  #holder: string | undefined;
  #heard = Date.now();
  #resume: string | undefined;
  #leader: Leader | undefined;
  #tabs = 1;
  #gapOnce = false;
  #closed = false;
  #hidden = false;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(options: NotifClientOptions) {
    this.#options = options;
    const url = new URL(options.url.replace(/\/+$/, ""), location.href).href;
    this.#names = tabNames(location.origin, url);
    this.#resume = readStorage();
    this.listens = new TabListens((request) => this.#request({ ...request, from: this.id }));
    this.#channel = new BroadcastChannel(this.#names.channel);
    this.#own = new BroadcastChannel(this.#names.tabChannel(this.id));
    this.#channel.onmessage = (event) => this.#onShared(event.data);
    this.#own.onmessage = (event) => this.#onDirect(event.data);
    this.#election = new Election(this.#names, this.id, {
      onLead: () => this.#onLead(),
      onLost: () => this.#stepDown(),
    });
    this.#timer = setInterval(() => this.#watch(), BEAT);
    addEventListener("pagehide", this.#onPageHide);
    addEventListener("pageshow", this.#onPageShow);
    this.#join();
  }

  on(def: NotifierDef<unknown, unknown>, handler: (key: unknown, value: unknown) => void) {
    this.#defs.set(def.name, def);
    let set = this.#handlers.get(def.name);
    if (!set) {
      set = new Set();
      this.#handlers.set(def.name, set);
    }
    set.add(handler);
    return () => void set.delete(handler);
  }

  onStatus(handler: (status: NotifStatus) => void): () => void {
    this.#statusHandlers.add(handler);
    return () => void this.#statusHandlers.delete(handler);
  }

  onShare(handler: (info: ShareInfo) => void): () => void {
    this.#shareHandlers.add(handler);
    handler(this.info());
    return () => void this.#shareHandlers.delete(handler);
  }

  info(): ShareInfo {
    return { shared: true, leader: this.#leader !== undefined, tabs: this.#tabs };
  }

  fetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(this.#options.headers ?? {}))
      if (!headers.has(name)) headers.set(name, value);
    if (this.status.session !== undefined) {
      headers.set(SESSION_HEADER, this.status.session);
      headers.set(TAB_HEADER, this.id);
    }
    const credentials = this.#options.withCredentials ? "include" : "same-origin";
    const doFetch = this.#options.fetch ?? globalThis.fetch.bind(globalThis);
    return doFetch(input, { ...init, headers, credentials: init.credentials ?? credentials });
  }

  close(): void {
    if (this.#closed) return;
    this.#leave();
    this.#closed = true;
    clearInterval(this.#timer);
    removeEventListener("pagehide", this.#onPageHide);
    removeEventListener("pageshow", this.#onPageShow);
    this.#channel.close();
    this.#own.close();
    this.listens.close();
    this.#setStatus(makeStatus("closed", undefined));
  }

  /** Starts (again) to take part: presence, the wait for the lock, a ping to find the holder. */
  #join(): void {
    this.#hidden = false;
    this.#heard = Date.now();
    void this.#election.start();
    this.#post({ type: "ping", from: this.id });
  }

  /** Stops taking part: hands the stream over, or ends the session when no tab is left. */
  #leave(): void {
    this.#hidden = true;
    const leader = this.#leader;
    this.#leader = undefined;
    if (leader && leader.tabs > 1) {
      const last = leader.detach();
      writeStorage(last);
      this.#post({ type: "resign", term: this.#term, tab: this.id, last });
    } else if (leader) leader.close();
    else this.#post({ type: "leave", from: this.id });
    writeStorage(laterId(this.#resume, this.#cursor.last));
    this.#holder = undefined;
    this.#election.stop();
  }

  readonly #onPageHide = (): void => {
    if (!this.#closed) this.#leave();
  };

  readonly #onPageShow = (event: PageTransitionEvent): void => {
    if (!event.persisted || this.#closed || !this.#hidden) return;
    this.#gapOnce = true; // back from the page cache: this tab missed what came meanwhile
    this.#join();
  };

  /** Followers: ping a quiet holder, take the lock from a silent one. */
  #watch(): void {
    if (this.#closed || this.#hidden || this.#leader) return;
    const silent = Date.now() - this.#heard;
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
    const resumeFrom = laterId(this.#resume, this.#cursor.last);
    this.#leader = new Leader({
      tab: this.id,
      term: this.#term,
      options: this.#options,
      resumeFrom,
      sendTo: (tab, message) => this.#sendTo(tab, message),
      broadcast: (message) => this.#broadcast(message),
      alive: (tabs) => this.#election.alive(tabs),
    });
    this.#broadcast({ type: "lead", term: this.#term, tab: this.id });
    this.listens.newHolder();
    this.#leader.handle({
      type: "join",
      from: this.id,
      listens: this.listens.all(),
      after: undefined,
    });
    this.#checkOwnership(this.#leader);
    this.#notifyShare();
  }

  /** A thawed holder whose lock was stolen steps down even before it hears the new holder. */
  #checkOwnership(leader: Leader): void {
    const check = setInterval(() => {
      if (this.#leader !== leader) return clearInterval(check);
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
    for (const channel of this.#tabChannels.values()) channel.close();
    this.#tabChannels.clear();
    this.#election.release();
    this.#heard = Date.now();
    if (!this.#closed && !this.#hidden) this.#election.wait();
    this.#notifyShare();
  }

  /** Does `term`/`tab` name the current holder, after following it when it is newer? */
  #follow(term: number, tab: string): boolean {
    const newer = term > this.#term || (term === this.#term && tab > (this.#holder ?? ""));
    if (newer) {
      this.#term = term;
      this.#holder = tab;
      if (this.#leader && tab !== this.id) this.#stepDown();
      this.listens.newHolder();
      const after = this.#cursor.last;
      if (tab !== this.id)
        this.#post({ type: "join", from: this.id, listens: this.listens.all(), after });
      if (this.status.state === "open")
        this.#setStatus(makeStatus("connecting", this.status.session));
    }
    return term === this.#term && tab === this.#holder;
  }

  #onShared(data: unknown): void {
    const message = parseTabMessage(data);
    if (!message || this.#closed) return;
    if ("from" in message) {
      this.#leader?.handle(message);
      return;
    }
    if (!("tab" in message) || !this.#follow(message.term, message.tab)) return;
    this.#heard = Date.now();
    switch (message.type) {
      case "beat":
        this.#resume = laterId(message.last, this.#resume);
        this.#setTabs(message.tabs);
        return;
      case "resign":
        this.#resume = laterId(message.last, this.#resume);
        return;
      case "status":
        this.#setTabs(message.tabs);
        this.#setStatus(this.#tabStatus(message.status));
        return;
      case "lead":
        return;
    }
  }

  #onDirect(data: unknown): void {
    const message = parseTabMessage(data);
    if (!message || this.#closed || !("term" in message) || message.term < this.#term) return;
    switch (message.type) {
      case "event":
        if (this.#cursor.accept(message.id)) this.#deliver(message.name, message.text);
        return;
      case "skip":
        this.#cursor.accept(message.id);
        return;
      case "listened":
        this.listens.listened(message.topic, message.error);
        return;
      case "unlistened":
        this.listens.unlistened(message.req);
        return;
      case "gap":
        this.#setStatus({ ...this.status, resumed: false, recovered: false, gap: true, lost: [] });
        return;
    }
  }

  #deliver(name: string, text: string): void {
    const def = this.#defs.get(name);
    const data = parse(text);
    if (!def || !data || data.notfor === this.id) return;
    let topic: string;
    try {
      topic = `${name}:${def.keyId(data.key)}`;
    } catch {
      return;
    }
    if (!this.listens.wants(topic)) return;
    for (const handler of [...(this.#handlers.get(name) ?? [])]) {
      try {
        handler(data.key, data.data);
      } catch (error) {
        reportError(error);
      }
    }
  }

  /** What this tab reports of the holder's status (a return from the page cache is a gap). */
  #tabStatus(status: TabStatus): NotifStatus {
    const value = status as unknown as NotifStatus;
    if (!this.#gapOnce || value.state !== "open") return value;
    this.#gapOnce = false;
    return { ...value, resumed: false, recovered: false, gap: true, lost: [] };
  }

  #setStatus(status: NotifStatus): void {
    if (JSON.stringify(status) === JSON.stringify(this.status)) return;
    this.status = status;
    for (const handler of [...this.#statusHandlers]) handler(status);
  }

  #setTabs(tabs: number): void {
    if (tabs === this.#tabs) return;
    this.#tabs = tabs;
    this.#notifyShare();
  }

  #notifyShare(): void {
    const info = this.info();
    for (const handler of [...this.#shareHandlers]) handler(info);
  }

  #request(message: RequestMessage): boolean {
    if (this.#leader) {
      const leader = this.#leader;
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
    let channel = this.#tabChannels.get(tab);
    if (!channel) {
      channel = new BroadcastChannel(this.#names.tabChannel(tab));
      this.#tabChannels.set(tab, channel);
    }
    channel.postMessage(message);
  }

  #broadcast(message: HolderMessage): void {
    this.#post(message);
    queueMicrotask(() => this.#onShared(message));
  }

  #post(message: HolderMessage | RequestMessage): void {
    if (!this.#closed) this.#channel.postMessage(message);
  }
}

function parse(text: string): { key: unknown; data: unknown; notfor?: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && "key" in value
      ? (value as { key: unknown; data: unknown })
      : undefined;
  } catch {
    return undefined;
  }
}

function readStorage(): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Kept per tab across a reload, so that a reloaded tab can resume the shared session. */
function writeStorage(id: string | undefined): void {
  try {
    if (id !== undefined) sessionStorage.setItem(STORAGE, id);
  } catch {
    // storage disabled: a reloaded tab then starts a new session
  }
}

function reportError(error: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (report) report(error);
  else console.error(error);
}

export type { NotifState };
