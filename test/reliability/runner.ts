/**
 * Runs a sequence of plain-data operations against the model and a world at
 * once, and after each one checks: every event on every stream is the
 * model's next one for its session (ids `<session>:<seq>` contiguous, data
 * exact, never twice), open streams catch up with the model, statuses of
 * `/listen` `/unlisten` `/close` and of resumes are the model's, stats and
 * `prepare` calls match, onError saw nothing unexpected. At the end it
 * settles everything, resumes every detached session (all must be replayed),
 * closes every session and expects zero sessions, streams, keys and listens.
 * Operations name clients and nodes by index, modulo what exists, so any
 * sequence (and any shrunk one) is runnable.
 */
import { expect } from "chai";
import {
  type Identity,
  KEYS,
  Model,
  type MSession,
  NOTIFIERS,
  type NotifierName,
  topicOf,
} from "./model.js";
import type { As, Op } from "./ops.js";
import { waitFor } from "./sse.js";
import { type Check, count, Streams } from "./streams.js";
import { clock, makeWorld, SESSION_TIMEOUT, type World, type WorldOptions } from "./world.js";

export { tally } from "./streams.js";

interface Client {
  readonly identity: Identity;
  session: MSession;
  check: Check;
}

function callerOf(as: As, self: Identity): Identity {
  if (as === "self") return self;
  return as === "anon" ? null : as;
}

const CODES: Record<number, string> = {
  403: "forbidden",
  410: "unknown_session",
  429: "too_many_keys",
};

export class Run {
  readonly model: Model;
  readonly world: World;
  readonly clients: Client[] = [];
  readonly #streams = new Streams();
  #v = 0;

  /** Keep reading a stream after resuming elsewhere (a stricter client than EventSource). */
  readonly #readsReplaced: boolean;

  constructor(world: World, readsReplaced = false) {
    this.world = world;
    this.#readsReplaced = readsReplaced;
    const { nodes, retention, maxKeys } = world.options;
    this.model = new Model({ nodes, retention, maxKeys });
  }

  async apply(op: Op): Promise<void> {
    const applied = await this.#apply(op);
    count(applied ? op.op : "skipped");
    await this.verify(!(op.op === "notify" && op.lazy));
  }

  async #apply(op: Op): Promise<boolean> {
    switch (op.op) {
      case "open":
        await this.#open(op.node, op.identity);
        return true;
      case "openBad":
        return this.#openBad(op);
      case "listen":
      case "unlisten":
        return this.#listen(op);
      case "notify":
        await this.#notify(op);
        return true;
      case "serverListen":
      case "serverUnlisten":
        return this.#serverListen(op);
      case "unlistenIdentity": {
        const key = KEYS[op.key % KEYS.length];
        this.model.unlistenIdentity(op.identity, topicOf(op.notifier, key));
        const notifier = this.world.nodes[this.#node(op.node)]!.notifiers[op.notifier];
        await notifier.unlistenIdentity(op.identity, key);
        await this.world.barrier();
        return true;
      }
      case "drop":
        return this.#drop(op.client);
      case "resume":
        return this.#resume(op);
      case "close":
        return this.#close(op);
      case "expire":
        this.model.expire();
        clock.advance(SESSION_TIMEOUT + 1);
        return true;
      case "settle":
        return this.#settle(op.pick);
    }
  }

  #node(index: number): number {
    return index % this.world.options.nodes;
  }

  /** Mostly a client whose session lives; one index in four names any client. */
  #client(index: number): Client | undefined {
    const live = this.clients.filter((client) => client.session.alive);
    const pool = index % 4 !== 3 && live.length > 0 ? live : this.clients;
    return pool.length === 0 ? undefined : pool[index % pool.length];
  }

  async #open(nodeIndex: number, identity: Identity, lastEventId?: string, query = false) {
    const node = this.#node(nodeIndex);
    const conn = await this.world.nodes[node]!.open(
      identity,
      lastEventId,
      query ? "query" : "header",
    );
    const session = this.model.open(node, identity);
    const check = this.#streams.start(conn, session, { type: "new" });
    this.clients.push({ identity, session, check });
  }

  /** A stream opened with a Last-Event-ID that must not resume anything: a new session. */
  async #openBad(op: Extract<Op, { op: "openBad" }>): Promise<boolean> {
    let id: string;
    let identity = op.identity;
    const { id: bad } = op;
    if (bad.type === "garbage") id = bad.text;
    else if (bad.type === "dead") {
      const dead = this.model.sessions.filter((s) => !s.alive);
      const session = dead[bad.pick % Math.max(1, dead.length)];
      if (!session) return false;
      id = `${session.id}:0`;
      identity = session.identity;
    } else {
      const client = this.#client(bad.client);
      if (!client) return false;
      const seq = client.session.log.length;
      if (bad.type === "foreign") {
        if (client.identity === op.identity) return false; // that would be a genuine resume
        id = `${client.session.id}:${Math.min(seq, client.check.cursor)}`;
      } else {
        id = `${client.session.id}:${seq + bad.ahead}`;
        identity = client.identity;
      }
    }
    await this.#open(op.node, identity, id, op.query);
    return true;
  }

  async #listen(op: Extract<Op, { op: "listen" | "unlisten" }>): Promise<boolean> {
    const client = this.#client(op.client);
    if (!client) return false;
    const { session } = client;
    const caller = callerOf(op.as, client.identity);
    const items = op.items.map(([notifier, key]) => ({ notifier, key: KEYS[key % KEYS.length] }));
    const topics = items.map((item) => topicOf(item.notifier, item.key));
    const body =
      items.length === 1 ? { session: session.id, ...items[0] } : { session: session.id, items };
    const expected =
      op.op === "listen"
        ? this.model.listen(session, caller, topics)
        : this.model.unlisten(session, caller, topics);
    const node = this.world.nodes[this.#node(op.via)]!;
    const reply = await node.post(`/${op.op}`, JSON.stringify(body), caller);
    expect(reply.status, `${op.op} ${reply.text}`).to.equal(expected);
    count(`${op.op}:${expected}`);
    if (expected !== 204) expect(reply.code).to.equal(CODES[expected]);
    return true;
  }

  /** `notifier.listen` / `unlisten` from server code, on any node. */
  async #serverListen(op: Extract<Op, { op: "serverListen" | "serverUnlisten" }>) {
    const client = this.#client(op.client);
    if (!client) return false;
    const key = KEYS[op.key % KEYS.length];
    const topic = topicOf(op.notifier, key);
    const expected =
      op.op === "serverListen"
        ? this.model.serverListen(client.session, topic)
        : this.model.serverUnlisten(client.session, topic);
    const notifier = this.world.nodes[this.#node(op.node)]!.notifiers[op.notifier];
    const call = op.op === "serverListen" ? notifier.listen : notifier.unlisten;
    const got = await call(client.session.id, key).then(
      () => "ok",
      (error: { code?: string }) => error.code ?? String(error),
    );
    expect(got, op.op).to.equal(expected);
    count(`${op.op}:${expected}`);
    return true;
  }

  async #notify(op: Extract<Op, { op: "notify" }>): Promise<void> {
    const v = ++this.#v;
    let name = op.notifier;
    let key = KEYS[op.key % KEYS.length];
    const hot = op.hot ? this.#listened() : [];
    if (hot.length > 0) [name, key] = hot[op.key % hot.length] as [NotifierName, unknown];
    const target = this.#client(op.target);
    let exclusion = {};
    let notfor: unknown;
    if (target && op.notfor !== "none") {
      if (op.notfor === "identity") {
        exclusion = { identity: { value: target.identity } };
        notfor = { identity: target.identity };
      } else {
        exclusion = { session: target.session };
        notfor =
          op.notfor === "session"
            ? { session: target.session.id }
            : { headers: { "x-notif-session": target.session.id } };
      }
    }
    this.model.notify(name, key, v, exclusion);
    const value = name === "plain" ? { v } : v;
    const notifier = this.world.nodes[this.#node(op.node)]!.notifiers[name];
    // biome-ignore lint/suspicious/noExplicitAny: notfor is a request, { session } or { identity }
    await notifier.notify(key, value, notfor === undefined ? {} : { notfor: notfor as any });
    await this.world.barrier();
  }

  /** (notifier, key) pairs some live session listens to, in a stable order. */
  #listened(): [NotifierName, unknown][] {
    const topics = new Set(this.model.live().flatMap((session) => [...session.topics]));
    const pairs: [NotifierName, unknown][] = [];
    for (const name of NOTIFIERS) {
      for (const key of KEYS) if (topics.has(topicOf(name, key))) pairs.push([name, key]);
    }
    return pairs;
  }

  async #drop(index: number): Promise<boolean> {
    const client = this.#client(index);
    if (!client || !this.#isOpen(client)) return false;
    client.check.conn.drop();
    this.model.drop(client.session);
    return true;
  }

  #isOpen(client: Client): boolean {
    return client.session.alive && client.session.stream && !client.check.conn.ended;
  }

  async #resume(op: Extract<Op, { op: "resume" }>): Promise<boolean> {
    const client = this.#client(op.client);
    if (!client) return false;
    const node = this.#node(op.node);
    const old = client.check;
    const replacing = this.#isOpen(client);
    if (replacing && node !== client.session.node) {
      old.conn.drop(); // a client moving to another node has lost its stream first
      this.model.drop(client.session);
      await this.verify(false);
    }
    // The client gives up on its stream (the server may not know yet) and
    // resumes from the last event it has; what comes on the old one is ignored.
    this.#streams.verify(old);
    old.abandoned = !this.#readsReplaced;
    const lastId = old.conn.events.at(-1)?.id ?? "";
    const seq = Number(lastId.slice(lastId.lastIndexOf(":") + 1));
    const plan = this.model.planResume(client.session, node, client.identity, seq);
    const via = op.query ? "query" : "header";
    const conn = await this.world.nodes[node]!.open(client.identity, lastId, via);
    if (plan.type === "new") {
      client.session = this.model.open(node, client.identity);
    } else {
      client.session.stream = true;
    }
    client.check = this.#streams.start(conn, client.session, plan);
    if (replacing && node === old.session.node) {
      await waitFor(() => old.conn.ended, 3_000, "the replaced stream to end");
    }
    count(`resume:${plan.type}`);
    return true;
  }

  async #close(op: Extract<Op, { op: "close" }>): Promise<boolean> {
    const client = this.#client(op.client);
    if (!client) return false;
    const caller = callerOf(op.as, client.identity);
    const expected = this.model.close(client.session, caller);
    const node = this.world.nodes[this.#node(op.via)]!;
    const reply = await node.post("/close", JSON.stringify({ session: client.session.id }), caller);
    expect(reply.status, `close ${reply.text}`).to.equal(expected);
    count(`close:${expected}`);
    if (expected !== 204) expect(reply.code).to.equal(CODES[expected]);
    if (expected === 204) await waitFor(() => client.check.conn.ended, 3_000, "the stream to end");
    return true;
  }

  async #settle(pick: number): Promise<boolean> {
    if (this.model.pending.length === 0) return false;
    const entry = this.model.settle(pick % this.model.pending.length);
    this.world.settle(entry.node, entry.v, entry.identity);
    await new Promise((resolve) => setImmediate(resolve));
    return true;
  }

  /** Verifies every stream; with `catchUp`, waits until open streams have every event. */
  async verify(catchUp: boolean): Promise<void> {
    const open = this.clients.filter((client) => this.#isOpen(client)).map((c) => c.check);
    const caughtUp = () => {
      this.#streams.verifyAll();
      return open.every((check) => check.cursor === check.session.log.length);
    };
    if (catchUp) await waitFor(caughtUp, 5_000, "open streams to catch up with the model");
    else caughtUp();
    this.#streams.prune();
    for (const client of this.clients) {
      if (client.session.alive && client.session.stream) {
        expect(client.check.conn.ended, "an open stream ended by itself").to.equal(false);
      }
    }
    await this.#expectStats();
    this.world.prepareCalls.forEach((calls, node) => {
      expect(calls, `prepare calls on node ${node}`).to.equal(this.model.prepareCalls[node]);
    });
    expect(this.world.unexpected.map((e) => e.error.message)).to.deep.equal([]);
  }

  async #expectStats(): Promise<void> {
    const { extra } = this.world;
    const want = (node: number) => {
      const s = this.model.stats(node);
      return {
        sessions: s.sessions + extra.sessions,
        streams: s.streams + extra.streams,
        keys: s.keys + extra.keys,
        listens: s.listens + extra.listens,
      };
    };
    const got = (node: number) => {
      const { sessions, streams, keys, listens } = this.world.stats(node);
      return { sessions, streams, keys, listens };
    };
    const nodes = Array.from({ length: this.world.options.nodes }, (_, i) => i);
    const same = () => nodes.every((n) => JSON.stringify(got(n)) === JSON.stringify(want(n)));
    try {
      await waitFor(same, 3_000, "stats to match the model");
    } catch {
      for (const n of nodes) expect(got(n), `stats of node ${n}`).to.deep.equal(want(n));
    }
  }

  /** Settles, resumes every detached session (all replayed), closes everything, expects zero. */
  async finish(): Promise<void> {
    while (this.model.pending.length > 0) await this.#settle(0);
    await this.verify(true);
    for (const client of this.clients) {
      const { session } = client;
      if (!session.alive || session.stream) continue;
      await this.#resume({
        op: "resume",
        client: this.clients.indexOf(client),
        node: session.node,
        query: false,
      });
      await this.verify(true);
    }
    for (const session of this.model.live()) {
      const reply = await this.world.nodes[session.node]!.post(
        "/close",
        JSON.stringify({ session: session.id }),
        session.identity,
      );
      expect(reply.status, reply.text).to.equal(204);
      this.model.close(session, session.identity);
    }
    await this.verify(false);
    for (let node = 0; node < this.world.options.nodes; node += 1) {
      expect(this.model.stats(node)).to.deep.equal({
        sessions: 0,
        streams: 0,
        keys: 0,
        listens: 0,
      });
    }
    count("runs");
  }
}

/**
 * Runs `ops` in a fresh world; closes it whatever happens. With
 * `readsReplaced`, clients keep reading a stream they resumed away from.
 */
export async function runOps(
  options: WorldOptions,
  ops: readonly Op[],
  readsReplaced = false,
): Promise<void> {
  const world = await makeWorld(options);
  try {
    const run = new Run(world, readsReplaced);
    for (const op of ops) await run.apply(op);
    await run.finish();
  } finally {
    await world.close();
  }
}
