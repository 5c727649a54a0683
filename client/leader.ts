/**
 * The tab that holds a shared stream: one stream client (the session, its
 * listens, its reconnects) for every tab, the union of the tabs' listens
 * counted by {@link TabRefs}, and each event relayed to the tabs that listen
 * on its key. Taking over, it resumes the session, unlistening what the
 * server holds and no tab wants, or, the session gone, recovers every key
 * from the earliest position the tabs had of it.
 */

import type { NotifierDef } from "../protocol/contract.js";
import type { Topic } from "../protocol/keys.js";
import { type ListenItem, PATHS, parseEventId, type TabId } from "../protocol/wire.js";
import {
  createStreamClient,
  type EventSourceConstructor,
  type NotifStatus,
  type StreamClient,
  type StreamClientOptions,
} from "./client.js";
import { earlierId } from "./cursor.js";
import type { HandOver } from "./handover.js";
import { beaconSpeaksForOther } from "./origin.js";
import { makePost, makeSend } from "./requests.js";
import { Routes } from "./routes.js";
import { HeldTopics } from "./tabheld.js";
import { isIdentityError, toTabError } from "./tablistens.js";
import { TabRelay } from "./tabrelay.js";
import { replayForTab, type TabReplayHost } from "./tabreplay.js";
import type {
  DirectMessage,
  HolderMessage,
  RequestMessage,
  TabError,
  TabListen,
  TabStatus,
} from "./tabs.js";
import { TabSince } from "./tabsince.js";
import { type Tap, tapEventSource } from "./tap.js";

/** What the holder needs from its tab. */
export interface LeaderHost {
  readonly tab: TabId;
  readonly term: number;
  /** The stream client's options (url, EventSource, fetch, headers…). */
  readonly options: StreamClientOptions;
  /** Where to resume: the last event id any tab heard of; undefined: a new session. */
  readonly resumeFrom: string | undefined;
  sendTo(tab: string, message: DirectMessage): void;
  broadcast(message: HolderMessage): void;
  /** The tabs among `tabs` that are alive (hold their presence lock). */
  alive(tabs: string[]): Promise<Set<string>>;
  /** Every tab alive now. */
  present(): Promise<string[]>;
  /** What the server may hold for the session, as the previous holder said. */
  held(): [Topic, ListenItem][];
}

/** Ms between heartbeats; tabs that hear none for {@link STALE} steal the lock. */
export const BEAT = 250;
/** Ms of silence after which a holder counts as frozen or gone. */
export const STALE = 1_000;
/** Ms a new holder waits for the alive tabs to join before it resumes the stream. */
const GATHER = 250;

interface Held {
  readonly item: ListenItem;
  readonly def: NotifierDef<unknown, unknown>;
  readonly ready: Promise<TabError | undefined>;
}

export class Leader {
  readonly #host: LeaderHost;
  readonly #routes = new Routes<Held>();
  readonly #refs = this.#routes.refs;
  readonly #relay: TabRelay<Held>;
  /** The session given up for an identity change (renewed once). */
  #renewed: string | undefined;
  /** Notifiers the stream client has a handler for. */
  readonly #named = new Set<string>();
  readonly #tap: Tap;
  readonly #stream: StreamClient;
  /** What the server may hold for the session (every tab is told). */
  readonly #held = new HeldTopics();
  /** Taking over: the tabs' positions, should the session be gone. */
  readonly #since: TabSince;
  /** Without a session to resume, topics held before that no tab re-declared go once it opened. */
  #pruned: boolean;
  #status: TabStatus = { state: "connecting", session: undefined };
  #resume: string | undefined;
  #detached = false;
  /** Taking over: the stream waits for the tabs' joins, to resume from the earliest of theirs. */
  #gathering = false;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  /** Replays for tabs that joined late (their own requests, beside the stream client's). */
  readonly #replays: TabReplayHost;

  constructor(host: LeaderHost) {
    this.#host = host;
    this.#resume = host.resumeFrom;
    this.#relay = new TabRelay(host, this.#routes);
    this.#since = new TabSince(host.resumeFrom);
    this.#pruned = host.resumeFrom !== undefined; // the stream client releases them (`#handOver`)
    for (const [topic, item] of host.held()) this.#held.add({ topic, item });
    const options = host.options;
    const Real =
      options.EventSource ??
      (globalThis as unknown as { EventSource: EventSourceConstructor }).EventSource;
    this.#tap = tapEventSource(Real, {
      onEvent: (name, event) => this.#onEvent(name, event),
      resumeId: (asked) => this.#resumeId(asked),
    });
    if (host.resumeFrom !== undefined) {
      this.#gathering = true;
      this.#tap.hold();
      void this.#gather();
    }
    const realFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#stream = createStreamClient({
      ...options,
      EventSource: this.#tap.EventSource,
      pageHide: false,
      handOver: host.resumeFrom === undefined ? undefined : this.#handOver(),
      // Handing over closes this client but not the session the next holder resumes.
      fetch: (input, init) =>
        this.#detached && String(input).endsWith(PATHS.close)
          ? Promise.resolve(new Response(null, { status: 204 }))
          : realFetch(input, init),
    });
    this.#stream.onStatus((status) => this.#onStatus(status));
    const credentials = options.withCredentials ? "include" : "same-origin";
    const base = options.url.replace(/\/+$/, "");
    this.#replays = {
      term: host.term,
      send: makeSend(makePost(base, realFetch, options.headers ?? {}, credentials)),
      session: () => (this.#detached ? undefined : this.#stream.session()),
      ready: (tab, topic) => this.#refs.get(tab, topic)?.ready,
      sendTo: (tab, message) => this.#host.sendTo(tab, message),
    };
    this.#timers.push(
      setInterval(() => this.beat(), BEAT),
      setInterval(() => void this.#prune(), STALE),
    );
  }

  /** What the stream client takes over: read when the session answers, after the tabs joined. */
  #handOver(): HandOver {
    const before = this.#held.entries();
    return {
      since: (topic) => this.#since.since(topic),
      held: () => before,
      // after the listen that may have wanted it again was counted
      released: (topic) => queueMicrotask(() => this.#letGo(topic)),
    };
  }

  /** Waits (a little) for every alive tab to join, then opens the stream. */
  async #gather(): Promise<void> {
    const deadline = Date.now() + GATHER;
    const tabs = await this.#host.present().catch(() => []);
    while (Date.now() < deadline && tabs.some((tab) => !this.#refs.has(tab)))
      await new Promise((resolve) => setTimeout(resolve, 10));
    this.#gathering = false;
    this.#tap.release();
  }

  /** Tabs sharing the stream (this one included). */
  get tabs(): number {
    return this.#refs.tabs;
  }

  /** The session's last event id this holder relayed. */
  get last(): string | undefined {
    return this.#relay.cursor.last ?? this.#resume;
  }

  get session(): string | undefined {
    return this.#stream.session();
  }

  /** A request from a tab (this one included). */
  handle(message: RequestMessage): void {
    if (this.#detached) return;
    switch (message.type) {
      case "join":
        this.#join(message.from, message.listens, message.after);
        return;
      case "listen":
        this.#listen(message.from, message);
        return;
      case "unlisten":
        this.#unlisten(message.from, message, message.req);
        return;
      case "leave":
        this.#leave(message.from);
        return;
      case "ping":
        this.beat();
        return;
      case "restart":
        this.#stream.reconnect();
        return;
    }
  }

  beat(): void {
    const { term, tab } = this.#host;
    this.#host.broadcast({ type: "beat", term, tab, last: this.last, tabs: this.tabs });
    // Each tab has every event it wants up to here: its cursor (where a successor resumes) follows.
    const id = this.#relay.cursor.last;
    if (id !== undefined)
      for (const other of this.#refs.tabIds()) this.#host.sendTo(other, { type: "skip", term, id });
  }

  /** Stops holding the stream without ending the session; returns where to resume. */
  detach(): string | undefined {
    this.#detached = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#stream.close();
    return this.last;
  }

  /** The last tab goes: ends the session too. */
  close(): void {
    const session = this.#stream.session();
    const url = `${this.#host.options.url.replace(/\/+$/, "")}${PATHS.close}`;
    const { withCredentials = false } = this.#host.options;
    const beacon =
      typeof navigator.sendBeacon === "function" && !beaconSpeaksForOther(url, withCredentials);
    if (session !== undefined && beacon) {
      const body = new Blob([JSON.stringify({ session })], { type: "application/json" });
      if (navigator.sendBeacon(url, body)) this.#detached = true; // the beacon ends it
    }
    for (const timer of this.#timers) clearInterval(timer);
    this.#stream.close();
  }

  #join(tab: string, listens: readonly TabListen[], after: string | undefined): void {
    const isNew = !this.#refs.has(tab);
    // Confirmed before, not held now (released meanwhile, or of another session): maybe missed.
    const dropped = this.#gathering
      ? []
      : listens.filter((l) => l.confirmed && !this.#held.has(l.topic));
    this.#refs.join(tab);
    const { remove } = this.#refs.diff(
      tab,
      listens.map((l) => l.topic),
    );
    for (const [topic, held] of remove) this.#release(topic, held);
    for (const listen of listens) this.#listen(tab, listen);
    if (this.#gathering) this.#since.offer(listens);
    if (after !== undefined && this.#gathering) this.#resume = earlierId(this.#resume, after);
    // What the tab missed and no longer is held: replayed by position (after the catch-up).
    const replay = (late: boolean) =>
      replayForTab(this.#replays, tab, late ? listens.filter((l) => l.confirmed) : dropped);
    if (after !== undefined) this.#relay.catchUp(tab, listens, after, this.#gathering, replay);
    else replay(false);
    const { term } = this.#host;
    if (isNew) this.#tellHeld(this.#held.listens(), [], true);
    this.#host.broadcast({
      type: "status",
      term,
      tab: this.#host.tab,
      status: this.#status,
      tabs: this.tabs,
    });
    if (isNew) this.beat();
  }

  #listen(tab: string, { topic, item }: TabListen): void {
    let held = this.#refs.get(tab, topic);
    if (!held) {
      const def = this.#routes.def(item.notifier, topic, item.key);
      this.#tap.addName(item.notifier);
      if (!this.#named.has(def.name)) {
        this.#named.add(def.name);
        this.#stream.on(def, () => {}); // so that the stream client tracks what it gets
      }
      if (this.#held.add({ topic, item })) this.#tellHeld([{ topic, item }], []);
      const ready = this.#listenOrRenew(def, item.key).then(
        () => undefined,
        (error: unknown) => {
          if (this.#refs.get(tab, topic) === held) this.#refs.remove(tab, topic);
          this.#letGo(topic);
          return toTabError(error);
        },
      );
      held = { item, def, ready };
      this.#refs.add(tab, topic, held);
    }
    const { def, item: listened } = held;
    void held.ready.then((error) => {
      const at = this.#relay.cursor.last;
      const pos = error ? undefined : (this.#stream.position(def, listened.key) ?? undefined);
      this.#host.sendTo(tab, { type: "listened", term: this.#host.term, topic, error, at, pos });
    });
  }

  /**
   * Listens; refused because the session belongs to another identity (a login
   * or logout in some tab: they share cookies), starts a new session for every
   * tab, once, and listens on it.
   */
  async #listenOrRenew(def: NotifierDef<unknown, unknown>, key: unknown): Promise<void> {
    try {
      await this.#stream.listen(def, key);
    } catch (error) {
      if (!isIdentityError(error)) throw error;
      const session = this.#stream.session();
      if (this.#renewed !== session) {
        this.#renewed = session;
        this.#stream.reconnect();
      }
      await this.#stream.listen(def, key);
    }
  }

  #unlisten(tab: string, { topic }: TabListen, req: number): void {
    const held = this.#refs.remove(tab, topic);
    const done = () => this.#host.sendTo(tab, { type: "unlistened", term: this.#host.term, req });
    if (!held) {
      // Sent to a holder that went (or not yet joined): done once the server let the key go.
      if (this.#held.has(topic) && !this.#refs.wanted(topic)) this.#held.whenSettled(topic, done);
      else done();
      return;
    }
    void this.#stream
      .unlisten(held.def, held.item.key)
      .finally(() => this.#letGo(topic))
      .then(done, done);
  }

  #release(topic: Topic, held: Held): void {
    void this.#stream
      .unlisten(held.def, held.item.key)
      .finally(() => this.#letGo(topic))
      .catch(() => {});
  }

  /**
   * The server no longer holds `topic`, unless a tab wants it again: every
   * tab is told. Unlistens waiting for it are answered either way (held for
   * another tab, it is no longer the unlistening tab's).
   */
  #letGo(topic: Topic): void {
    if (!this.#refs.wanted(topic) && this.#held.remove(topic)) this.#tellHeld([], [topic]);
    this.#held.settle(topic);
  }

  #tellHeld(add: TabListen[], remove: Topic[], all = false): void {
    if (this.#detached) return;
    const { term, tab } = this.#host;
    this.#host.broadcast({ type: "held", term, tab, add, remove, all });
  }

  #leave(tab: string): void {
    for (const [topic, held] of this.#refs.leave(tab)) this.#release(topic, held);
    this.beat();
  }

  #onEvent(name: string, event: MessageEvent): void {
    if (!this.#detached) this.#relay.event(name, event.lastEventId, event.data);
  }

  #resumeId(asked: string | undefined): string | undefined {
    const resume = this.#resume;
    this.#resume = undefined;
    if (asked === undefined) return resume; // only the first stream resumes a handed-over session
    const last = this.#relay.cursor.last;
    const a = parseEventId(asked);
    const b = parseEventId(last);
    return a && b && a.session === b.session && b.seq > a.seq ? last : asked;
  }

  #onStatus(status: NotifStatus): void {
    this.#status = { ...status };
    if (status.state === "open" && !this.#pruned) {
      this.#pruned = true; // what no tab re-declared: gone with the old session, or unlistened now
      for (const [topic] of this.#held.entries()) this.#letGo(topic);
    }
    const { term, tab } = this.#host;
    this.#host.broadcast({ type: "status", term, tab, status: this.#status, tabs: this.tabs });
  }

  /** Tabs that died without a word (crashed, killed): their listens go. */
  async #prune(): Promise<void> {
    const tabs = this.#refs.tabIds().filter((tab) => tab !== this.#host.tab);
    if (tabs.length === 0) return;
    const alive = await this.#host.alive(tabs).catch(() => new Set(tabs));
    for (const tab of tabs) if (!alive.has(tab) && !this.#detached) this.#leave(tab);
  }
}
