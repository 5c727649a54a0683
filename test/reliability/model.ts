/**
 * The reference model: who must receive what, written from SPEC §4–5 and
 * knowing nothing of the library's code. Sessions live on a node, listen to
 * topics, and keep the log of every event pushed to them (seq = index + 1);
 * a notify appends to the log of each session that listens when it is
 * notified and still listens when its (possibly async) `prepare` settles,
 * keeping per-key order; resuming predicts `resumed`, `gap` or `new`.
 * Pure: no I/O, no timers.
 */

/** Who clients are (the `x-user` header; null when absent). */
export type Identity = "ann" | "bob" | null;
export const IDENTITIES: readonly Identity[] = ["ann", "bob", null];

/**
 * `plain`: no prepare (one value for all). `prep`: a sync prepare that may
 * block or throw. `async`: a prepare answering a promise (settled by the test,
 * in any order) for every identity but bob, and synchronously for bob.
 */
export type NotifierName = "plain" | "prep" | "async";
export const NOTIFIERS: readonly NotifierName[] = ["plain", "prep", "async"];

/** Keys: two of them are one key written with its fields in another order. */
export const KEYS: readonly unknown[] = ["a", "b", { r: 1, s: 2 }, { s: 2, r: 1 }, 7];

/** JSON with object keys sorted (written here, not taken from the library). */
export function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    const fields = Object.keys(record)
      .sort()
      .map((name) => `${JSON.stringify(name)}:${sortedJson(record[name])}`);
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value);
}

export function topicOf(notifier: string, key: unknown): string {
  return `${notifier}:${sortedJson(key)}`;
}

/** What `prepare` makes of value `v` for an identity: deterministic, shared with the real prepare. */
export type Outcome =
  | { readonly type: "value"; readonly value: string }
  | { readonly type: "block" }
  | { readonly type: "throw" };

export function outcome(identity: Identity, v: number): Outcome {
  const h = identity === "ann" ? 0 : identity === "bob" ? 1 : 2;
  if (v % 5 === h) return { type: "block" };
  if (v % 7 === h + 3) return { type: "throw" };
  return { type: "value", value: `${v}>${identity}` };
}

/** Does the `async` notifier's prepare answer a promise for this identity? */
export function answersLater(identity: Identity): boolean {
  return identity !== "bob";
}

/** An expected event: name and exact data text. */
export interface Expected {
  readonly event: string;
  readonly data: string;
}

export class MSession {
  readonly node: number;
  readonly identity: Identity;
  /** The real id, learned from the session event. */
  id = "";
  alive = true;
  /** A stream is open on this session. */
  stream = true;
  readonly topics = new Set<string>();
  /** Each listened topic's listen generation (SPEC §5.3: a notify is for older listens only). */
  readonly listenedAt = new Map<string, number>();
  readonly log: Expected[] = [];

  constructor(node: number, identity: Identity) {
    this.node = node;
    this.identity = identity;
  }
}

/** Who a notify is not for. */
export interface Exclusion {
  readonly session?: MSession;
  readonly identity?: { readonly value: Identity };
}

interface Group {
  readonly identity: Identity;
  readonly sessions: MSession[];
  result: string | undefined;
}

interface Job {
  readonly topic: string;
  /** The notify's offset in its key's history (SPEC §6): one per notify on the key, from 1. */
  readonly offset: number;
  readonly event: string;
  readonly keyJson: string;
  readonly exclusion: Exclusion;
  /** The listen generation when notified: later listens do not get it. */
  readonly since: number;
  readonly groups: Group[];
  pending: number;
}

/** An async prepare call not settled yet. */
export interface PendingPrepare {
  readonly node: number;
  readonly v: number;
  readonly identity: Identity;
  readonly job: Job;
  readonly group: Group;
}

export type Status = 204 | 403 | 410 | 429;

export type ResumePlan =
  | { readonly type: "new" }
  | { readonly type: "resumed" | "gap"; readonly cursor: number };

export interface ModelOptions {
  readonly nodes: number;
  readonly retention: number;
  readonly maxKeys: number;
}

export class Model {
  readonly options: ModelOptions;
  readonly sessions: MSession[] = [];
  readonly pending: PendingPrepare[] = [];
  readonly prepareCalls: number[];
  readonly #queues = new Map<string, Job[]>();
  #generation = 0;
  /** Notifies so far per topic: the offset of the next one's position is this plus one. */
  readonly #offsets = new Map<string, number>();

  constructor(options: ModelOptions) {
    this.options = options;
    this.prepareCalls = Array.from({ length: options.nodes }, () => 0);
  }

  open(node: number, identity: Identity): MSession {
    const session = new MSession(node, identity);
    this.sessions.push(session);
    return session;
  }

  listen(session: MSession, caller: Identity, topics: readonly string[]): Status {
    const refused = this.#refuse(session, caller);
    if (refused) return refused;
    const fresh = new Set(topics.filter((topic) => !session.topics.has(topic)));
    if (session.topics.size + fresh.size > this.options.maxKeys) return 429;
    for (const topic of topics) this.#add(session, topic);
    return 204;
  }

  unlisten(session: MSession, caller: Identity, topics: readonly string[]): Status {
    const refused = this.#refuse(session, caller);
    if (refused) return refused;
    for (const topic of topics) this.#remove(session, topic);
    return 204;
  }

  /** `notifier.listen(sessionId, key)` from server code: trusted, but the limit holds. */
  serverListen(session: MSession, topic: string): "ok" | "unknown_session" | "too_many_keys" {
    if (!session.alive) return "unknown_session";
    if (!session.topics.has(topic) && session.topics.size + 1 > this.options.maxKeys) {
      return "too_many_keys";
    }
    this.#add(session, topic);
    return "ok";
  }

  /** `notifier.unlisten(sessionId, key)` from server code. */
  serverUnlisten(session: MSession, topic: string): "ok" | "unknown_session" {
    if (!session.alive) return "unknown_session";
    this.#remove(session, topic);
    return "ok";
  }

  /** `notifier.unlistenIdentity(identity, key)`: every session of that identity, on every node. */
  unlistenIdentity(identity: Identity, topic: string): void {
    for (const session of this.live())
      if (session.identity === identity) this.#remove(session, topic);
  }

  close(session: MSession, caller: Identity): Status {
    const refused = this.#refuse(session, caller);
    if (refused) return refused;
    this.#end(session);
    return 204;
  }

  /** The client's stream dropped; the session waits for a resume until it expires. */
  drop(session: MSession): void {
    session.stream = false;
  }

  /** What `GET /events` on `node` with `Last-Event-ID: <session>:<seq>` from `caller` gives. */
  planResume(session: MSession, node: number, caller: Identity, seq: number): ResumePlan {
    if (!session.alive || session.node !== node || session.identity !== caller) {
      return { type: "new" };
    }
    const last = session.log.length;
    if (seq > last) return { type: "new" };
    const first = last - Math.min(this.options.retention, last) + 1;
    if (seq + 1 >= first) return { type: "resumed", cursor: seq };
    return { type: "gap", cursor: first - 1 };
  }

  /** Time passes beyond sessionTimeout: every session without a stream ends. */
  expire(): MSession[] {
    const ended = this.sessions.filter((session) => session.alive && !session.stream);
    for (const session of ended) this.#end(session);
    return ended;
  }

  /** `notify` of value `v` on a key: every node delivers to its own listeners. */
  notify(notifier: NotifierName, key: unknown, v: number, exclusion: Exclusion): void {
    const topic = topicOf(notifier, key);
    const offset = (this.#offsets.get(topic) ?? 0) + 1;
    this.#offsets.set(topic, offset);
    for (let node = 0; node < this.options.nodes; node += 1) {
      this.#deliver(node, notifier, key, v, exclusion, offset);
    }
  }

  /** Settles the `index`th pending async prepare; returns it (the test settles the real one alike). */
  settle(index: number): PendingPrepare {
    const [entry] = this.pending.splice(index, 1);
    if (!entry) throw new RangeError("no such pending prepare");
    const result = outcome(entry.identity, entry.v);
    entry.group.result = result.type === "value" ? JSON.stringify(result.value) : undefined;
    entry.job.pending -= 1;
    this.#drain(`${entry.node} ${entry.job.topic}`);
    return entry;
  }

  live(node?: number): MSession[] {
    return this.sessions.filter((s) => s.alive && (node === undefined || s.node === node));
  }

  /** What `hub.stats()` of a node must show. */
  stats(node: number): { sessions: number; streams: number; keys: number; listens: number } {
    const live = this.live(node);
    const topics = new Set(live.flatMap((session) => [...session.topics]));
    return {
      sessions: live.length,
      streams: live.filter((session) => session.stream).length,
      keys: topics.size,
      listens: live.reduce((sum, session) => sum + session.topics.size, 0),
    };
  }

  #refuse(session: MSession, caller: Identity): Status | undefined {
    if (!session.alive) return 410;
    if (session.identity !== caller) return 403;
    return undefined;
  }

  #end(session: MSession): void {
    session.alive = false;
    session.stream = false;
    session.topics.clear();
    session.listenedAt.clear();
  }

  #add(session: MSession, topic: string): void {
    if (session.topics.has(topic)) return;
    session.topics.add(topic);
    session.listenedAt.set(topic, ++this.#generation);
  }

  #remove(session: MSession, topic: string): void {
    session.topics.delete(topic);
    session.listenedAt.delete(topic);
  }

  #deliver(
    node: number,
    notifier: NotifierName,
    key: unknown,
    v: number,
    exclusion: Exclusion,
    offset: number,
  ) {
    const topic = topicOf(notifier, key);
    const listeners = this.live(node).filter((session) => session.topics.has(topic));
    if (listeners.length === 0) return;
    const since = this.#generation;
    const base = { topic, offset, event: notifier, keyJson: JSON.stringify(key), exclusion, since };
    if (notifier === "plain") {
      const job: Job = { ...base, groups: [], pending: 0 };
      job.groups.push({ identity: null, sessions: listeners, result: JSON.stringify({ v }) });
      this.#schedule(node, job);
      return;
    }
    const byIdentity = new Map<Identity, MSession[]>();
    for (const session of listeners) {
      byIdentity.set(session.identity, [...(byIdentity.get(session.identity) ?? []), session]);
    }
    // With nothing queued on the key, sync results go out at once; async
    // ones (and everything behind them) wait in the key's queue.
    const queued = this.#queues.has(`${node} ${topic}`);
    const job: Job = { ...base, groups: [], pending: 0 };
    for (const [identity, sessions] of byIdentity) {
      if (exclusion.identity && exclusion.identity.value === identity) continue;
      this.prepareCalls[node] = (this.prepareCalls[node] ?? 0) + 1;
      const group: Group = { identity, sessions, result: undefined };
      if (notifier === "async" && answersLater(identity)) {
        job.groups.push(group);
        job.pending += 1;
        this.pending.push({ node, v, identity, job, group });
        continue;
      }
      const result = outcome(identity, v);
      group.result = result.type === "value" ? JSON.stringify(result.value) : undefined;
      if (queued) job.groups.push(group);
      else this.#run({ ...base, groups: [group], pending: 0 });
    }
    if (job.groups.length > 0) this.#schedule(node, job);
  }

  #schedule(node: number, job: Job): void {
    const name = `${node} ${job.topic}`;
    const queue = this.#queues.get(name);
    if (!queue && job.pending === 0) {
      this.#run(job);
      return;
    }
    if (queue) queue.push(job);
    else this.#queues.set(name, [job]);
    this.#drain(name);
  }

  #drain(name: string): void {
    const queue = this.#queues.get(name);
    if (!queue) return;
    while (queue.length > 0 && queue[0]?.pending === 0) this.#run(queue.shift() as Job);
    if (queue.length === 0) this.#queues.delete(name);
  }

  #run(job: Job): void {
    const { exclusion } = job;
    for (const group of job.groups) {
      if (group.result === undefined) continue;
      // the epoch is the hub's (random): streams.ts checks it and writes it as "@"
      const data = `{"key":${job.keyJson},"data":${group.result},"pos":"@-${job.offset}"}`;
      for (const session of group.sessions) {
        const listened = session.listenedAt.get(job.topic);
        if (!session.alive || listened === undefined || listened > job.since) continue;
        if (exclusion.session === session) continue;
        if (exclusion.identity && exclusion.identity.value === session.identity) continue;
        session.log.push({ event: job.event, data });
      }
    }
  }
}
