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
import type { ListenItem, TabId } from "../protocol/wire.js";
import type { NotifStatus, StreamClient, StreamClientOptions } from "./client.js";
import { closeByBeacon, HolderStream } from "./holderstream.js";
import { makePost, makeSend } from "./requests.js";
import { Routes } from "./routes.js";
import { type GatherHost, Succession } from "./succession.js";
import { HeldTopics } from "./tabheld.js";
import { toTabError } from "./tablistens.js";
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
  readonly #holding: HolderStream;
  /** The holding stream's client. */
  readonly #stream: StreamClient;
  /** What the server may hold for the session (every tab is told). */
  readonly #held = new HeldTopics();
  /** Where the stream resumes, the tabs it waits for, their positions. */
  readonly #succession: Succession;
  #status: TabStatus = { state: "connecting", session: undefined };
  #detached = false;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  /** Replays for tabs that joined late (their own requests, beside the stream client's). */
  readonly #replays: TabReplayHost;

  constructor(host: LeaderHost) {
    this.#host = host;
    this.#relay = new TabRelay(host, this.#routes);
    this.#succession = new Succession(host.resumeFrom);
    for (const [topic, item] of host.held()) this.#held.add({ topic, item });
    const handOver =
      host.resumeFrom === undefined
        ? undefined
        : this.#succession.handOver(this.#held.entries(), (topic) => this.#letGo(topic));
    this.#holding = new HolderStream(host.options, {
      onEvent: (name, event) => this.#onEvent(name, event),
      resumeId: (asked) => this.#succession.resumeId(asked, this.#relay.cursor.last),
      handOver,
      detached: () => this.#detached,
    });
    this.#stream = this.#holding.client;
    if (handOver) void this.#succession.gather(this.#gathering());
    this.#stream.onStatus((status) => this.#onStatus(status));
    this.#replays = this.#replayHost(this.#holding.fetch);
    this.#timers.push(
      setInterval(() => this.beat(), BEAT),
      setInterval(() => void this.#prune(), STALE),
    );
  }

  /** Taking over: the stream opens once every alive tab joined (or a little later). */
  #gathering(): GatherHost {
    return {
      present: () => this.#host.present(),
      joined: (tab) => this.#refs.has(tab),
      open: () => this.#holding.tap.release(),
    };
  }

  /** Replays for tabs that joined late: their own requests, beside the stream client's. */
  #replayHost(fetch: typeof globalThis.fetch): TabReplayHost {
    const { options, term } = this.#host;
    const credentials = options.withCredentials ? "include" : "same-origin";
    const base = options.url.replace(/\/+$/, "");
    return {
      term,
      send: makeSend(makePost(base, fetch, options.headers ?? {}, credentials)),
      session: () => (this.#detached ? undefined : this.#stream.session()),
      ready: (tab, topic) => this.#refs.get(tab, topic)?.ready,
      sendTo: (tab, message) => this.#host.sendTo(tab, message),
    };
  }

  /** Tabs sharing the stream (this one included). */
  get tabs(): number {
    return this.#refs.tabs;
  }

  /** The session's last event id this holder relayed. */
  get last(): string | undefined {
    return this.#relay.cursor.last ?? this.#succession.resume;
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
    if (closeByBeacon(this.#host.options, this.#stream.session())) this.#detached = true; // the beacon ends it
    for (const timer of this.#timers) clearInterval(timer);
    this.#stream.close();
  }

  #join(tab: string, listens: readonly TabListen[], after: string | undefined): void {
    const isNew = !this.#refs.has(tab);
    // Confirmed before, not held now (released meanwhile, or of another session): maybe missed.
    const gathering = this.#succession.gathering;
    const dropped = gathering ? [] : listens.filter((l) => l.confirmed && !this.#held.has(l.topic));
    this.#refs.join(tab);
    const { remove } = this.#refs.diff(
      tab,
      listens.map((l) => l.topic),
    );
    for (const [topic, held] of remove) this.#release(topic, held);
    for (const listen of listens) this.#listen(tab, listen);
    this.#succession.joined(listens, after);
    // What the tab missed and no longer is held: replayed by position (after the catch-up).
    const replay = (late: boolean) =>
      replayForTab(this.#replays, tab, late ? listens.filter((l) => l.confirmed) : dropped);
    if (after !== undefined) this.#relay.catchUp(tab, listens, after, gathering, replay);
    else replay(false);
    if (isNew) this.#tellHeld(this.#held.listens(), [], true);
    this.#tellStatus();
    if (isNew) this.beat();
  }

  #listen(tab: string, { topic, item }: TabListen): void {
    let held = this.#refs.get(tab, topic);
    if (!held) {
      const def = this.#routes.def(item.notifier, topic, item.key);
      if (this.#held.add({ topic, item })) this.#tellHeld([{ topic, item }], []);
      const ready = this.#holding.listen(def, item.key).then(
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

  #onStatus(status: NotifStatus): void {
    this.#status = { ...status };
    // What no tab re-declared: gone with the old session, or unlistened now.
    if (status.state === "open" && this.#succession.prune())
      for (const [topic] of this.#held.entries()) this.#letGo(topic);
    this.#tellStatus();
  }

  #tellStatus(): void {
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
