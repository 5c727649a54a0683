/**
 * Runs position-model operations (positions-ops.ts) against the model and a
 * world of nodes at once. Clients behave as SPEC §6 says a client does, in
 * raw HTTP: per key they keep the position of the last notification they
 * got (before any, the `pos` their listen answered) and listen again with
 * it as `since` on every new session. The judge, per client and per key:
 * every notification is the model's one at its position, positions only
 * grow (no duplicate, none out of order), and a position skipped is one the
 * client was told it lost (`recovered: false`, or an in-stream `gap`
 * naming the key) when the model says the history really lost it;
 * `recovered` is exactly the model's; after every operation every open
 * stream catches up with every key's top. Never a silent hole.
 */
import { expect } from "chai";
import type { FakeResponse } from "./fake.js";
import { type MPos, PKEYS, PositionModel } from "./positions-model.js";
import { CLIENTS, type POp } from "./positions-ops.js";
import { makePWorld, type PWorld, type PWorldOptions } from "./positions-world.js";
import { waitFor } from "./sse.js";

/** Counts of what the position model tests did, for the report. */
export const ptally: Record<string, number> = {};
const count = (what: string) => {
  ptally[what] = (ptally[what] ?? 0) + 1;
};

interface Pos {
  readonly epoch: string;
  readonly offset: number;
}

function parsePos(text: unknown): Pos {
  const match = typeof text === "string" ? /^([0-9a-z]{1,40})-(0|[1-9][0-9]*)$/.exec(text) : null;
  expect(match, `a position: ${String(text)}`).to.not.equal(null);
  return { epoch: (match as RegExpExecArray)[1] as string, offset: Number(match?.[2]) };
}

interface PClient {
  conn: FakeResponse | undefined;
  /** Events of `conn` judged so far. */
  checked: number;
  session: string;
  lastId: string;
  /** Where the session lives: node and that node's hub (its `life`). */
  node: number;
  life: number;
  connected: boolean;
  readonly wanted: Set<string>;
  /** Keys listened to on the current session. */
  readonly listened: Set<string>;
  readonly pos: Map<string, Pos>;
  /** Keys an in-stream gap named, not followed by a notification yet. */
  readonly told: Set<string>;
}

export class PRun {
  readonly world: PWorld;
  readonly model: PositionModel;
  readonly clients: PClient[];
  /** Per key, the epoch of each generation, as first seen. */
  readonly #epochs = new Map<string, Map<number, string>>();
  #v = 0;

  constructor(world: PWorld) {
    this.world = world;
    this.model = new PositionModel(world.options.size);
    this.clients = Array.from({ length: CLIENTS }, () => ({
      conn: undefined,
      checked: 0,
      session: "",
      lastId: "",
      node: -1,
      life: 0,
      connected: false,
      wanted: new Set<string>(),
      listened: new Set<string>(),
      pos: new Map<string, Pos>(),
      told: new Set<string>(),
    }));
  }

  async apply(op: POp): Promise<void> {
    const applied = await this.#apply(op);
    count(applied ? op.op : "skipped");
    await this.verify();
  }

  async #apply(op: POp): Promise<boolean> {
    switch (op.op) {
      case "connect":
        return this.#connect(this.#client(op.client), op.node, op.resume);
      case "listen":
        return this.#listen(this.#client(op.client), PKEYS[op.key % PKEYS.length] as string);
      case "notify":
        return this.#notify(op.node, op.key);
      case "drop": {
        const client = this.#client(op.client);
        if (!client.connected) return false;
        client.conn?.drop();
        client.connected = false;
        return true;
      }
      case "kill":
        return this.#kill(op.node);
      case "restart":
        return this.#restart(op.node);
      case "outage":
        return this.#outage(op);
    }
  }

  #client(index: number): PClient {
    return this.clients[index % this.clients.length] as PClient;
  }

  #live(): number[] {
    return this.world.nodes.flatMap((node, i) => (node.hub ? [i] : []));
  }

  /** The generation of a key's epoch (bound to the current one when first seen). */
  #gen(key: string, epoch: string): number {
    let gens = this.#epochs.get(key);
    if (!gens) {
      gens = new Map();
      this.#epochs.set(key, gens);
    }
    for (const [gen, known] of gens) if (known === epoch) return gen;
    const { gen } = this.model.top(key);
    expect(gens.get(gen), `one epoch per history of ${key}`).to.equal(undefined);
    gens.set(gen, epoch);
    return gen;
  }

  #model(key: string, pos: Pos): MPos {
    return { gen: this.#gen(key, pos.epoch), offset: pos.offset };
  }

  async #connect(client: PClient, index: number, resume: boolean): Promise<boolean> {
    const live = this.#live();
    if (live.length === 0) return false;
    const node = live[index % live.length] as number;
    if (client.connected) client.conn?.drop(); // moving: the old stream is gone first
    client.connected = false;
    this.#judge(client);
    const lastId = resume && client.lastId !== "" ? client.lastId : undefined;
    const conn = await this.world.open(node, lastId);
    const first = conn.events[0];
    expect(first?.event, "the session event").to.equal("session");
    const data = JSON.parse(first?.data ?? "{}") as { session: string; status: string };
    const life = (this.world.nodes[node] as { life: number }).life;
    const resumes = lastId !== undefined && client.node === node && client.life === life;
    expect(data.status, "resume status").to.equal(resumes ? "resumed" : "new");
    client.conn = conn;
    client.checked = 1;
    client.lastId = first?.id ?? "";
    client.connected = true;
    count(`connect:${data.status}`);
    if (resumes) return true;
    client.session = data.session;
    client.node = node;
    client.life = life;
    client.listened.clear();
    client.told.clear();
    if (client.wanted.size > 0) await this.#relisten(client, [...client.wanted]);
    return true;
  }

  async #listen(client: PClient, key: string): Promise<boolean> {
    if (client.wanted.has(key)) return false;
    client.wanted.add(key);
    if (client.connected) await this.#relisten(client, [key]);
    return true;
  }

  /** `/listen` with `since` for `keys`, judged against the model. */
  async #relisten(client: PClient, keys: readonly string[]): Promise<void> {
    const since = keys.map((key) => {
      const pos = client.pos.get(key);
      return pos === undefined ? null : `${pos.epoch}-${pos.offset}`;
    });
    // what the history holds now (nothing notifies while this listen runs)
    const expected = keys.map((key, i) => {
      const pos = client.pos.get(key);
      return since[i] === null || !pos ? null : this.model.recoverable(key, this.#model(key, pos));
    });
    const items = keys.map((key, i) => ({ notifier: "chat", key, since: since[i] }));
    const reply = await this.world.post(client.node, "/listen", { session: client.session, items });
    expect(reply.status, `listen ${reply.text}`).to.equal(200);
    const answers = (JSON.parse(reply.text) as { items: { pos: string; recovered: unknown }[] })
      .items;
    keys.forEach((key, i) => {
      const answer = answers[i] as { pos: string; recovered: unknown };
      const pos = parsePos(answer.pos);
      expect(this.#model(key, pos), `the position of ${key}`).to.deep.equal(this.model.top(key));
      expect(answer.recovered, `recovered for ${key} since ${since[i]}`).to.equal(expected[i]);
      count(`listen:${String(expected[i])}`);
      if (expected[i] !== true) client.pos.set(key, pos); // false: told lost, from here on
      client.listened.add(key);
    });
  }

  async #notify(index: number, keyIndex: number): Promise<boolean> {
    const live = this.#live();
    if (live.length === 0) return false;
    await this.#send(live[index % live.length] as number, PKEYS[keyIndex % PKEYS.length] as string);
    return true;
  }

  async #send(node: number, key: string): Promise<void> {
    const v = ++this.#v;
    this.model.notify(key, v);
    await this.world.nodes[node]?.chat?.notify(key, v);
  }

  async #kill(index: number): Promise<boolean> {
    const live = this.#live();
    if (live.length === 0) return false;
    const node = live[index % live.length] as number;
    const life = this.world.nodes[node]?.life;
    const here = this.clients.filter((c) => c.connected && c.node === node && c.life === life);
    for (const client of here) client.connected = false;
    await this.world.kill(
      node,
      here.flatMap((client) => client.conn ?? []),
    );
    return true;
  }

  async #restart(index: number): Promise<boolean> {
    const dead = this.world.nodes.flatMap((node, i) => (node.hub ? [] : [i]));
    if (dead.length === 0) return false;
    await this.#start(dead[index % dead.length] as number);
    return true;
  }

  async #start(node: number): Promise<void> {
    for (const client of this.clients) this.#judge(client); // all the old process sent
    await this.world.start(node);
    if (this.world.options.bus === "local") this.model.restart(); // its history was in-process
  }

  async #outage(op: Extract<POp, { op: "outage" }>): Promise<boolean> {
    const live = this.#live();
    if (live.length === 0) return false;
    const node = live[op.node % live.length] as number;
    const others = live.filter((i) => i !== node);
    await this.verify(); // caught up: what the node misses is what follows
    await this.world.cut(node);
    for (const notify of others.length > 0 ? op.notifies : []) {
      await this.#send(
        others[notify.node % others.length] as number,
        PKEYS[notify.key % PKEYS.length] as string,
      );
    }
    await this.world.restore(node);
    return true;
  }

  /** Judges every event of the client's stream not judged yet. */
  #judge(client: PClient): void {
    const events = client.conn?.events ?? [];
    while (client.checked < events.length) {
      const event = events[client.checked] as (typeof events)[number];
      client.checked += 1;
      client.lastId = event.id ?? client.lastId;
      if (event.event === "session") this.#gap(client, event.data);
      else this.#notification(client, event.event, event.data);
    }
  }

  /** An in-stream `gap`: only for keys listened to whose next notification the history lost. */
  #gap(client: PClient, text: string): void {
    const data = JSON.parse(text) as { status: string; lost: { notifier: string; key: string }[] };
    expect(data.status, `a session event in the stream: ${text}`).to.equal("gap");
    for (const { notifier, key } of data.lost) {
      expect(notifier).to.equal("chat");
      expect(client.listened.has(key), `gap for ${key}, not listened`).to.equal(true);
      const pos = client.pos.get(key) as Pos;
      const lost = !this.model.recoverable(key, this.#model(key, pos));
      expect(lost, `gap for ${key} at ${pos.epoch}-${pos.offset}: the history had it`).to.equal(
        true,
      );
      client.told.add(key);
      count("gap");
    }
  }

  #notification(client: PClient, name: string, text: string): void {
    expect(name).to.equal("chat");
    const data = JSON.parse(text) as { key: string; data: number; pos: string };
    const { key } = data;
    expect(client.listened.has(key), `a notification on ${key}, not listened`).to.equal(true);
    const pos = parsePos(data.pos);
    const at = this.#model(key, pos);
    expect(data.data, `the value at ${key} ${data.pos}`).to.equal(this.model.value(key, at));
    const had = client.pos.get(key);
    const prev = had && this.#model(key, had);
    const told = client.told.delete(key);
    if (prev && prev.gen === at.gen) {
      expect(
        at.offset,
        `${key} ${data.pos} after ${prev.offset}: twice or out of order`,
      ).to.be.above(prev.offset);
      if (at.offset > prev.offset + 1) {
        expect(told, `${key}: ${prev.offset + 1}..${at.offset - 1} skipped, no gap told`).to.equal(
          true,
        );
        count("skipped after gap");
      }
    } else if (prev) expect(told, `${key}: a new epoch, no gap told`).to.equal(true);
    client.pos.set(key, pos);
    count("delivered");
  }

  /** Judges every stream, and waits until every open one has every key's top. */
  async verify(): Promise<void> {
    const caughtUp = () => {
      for (const client of this.clients) this.#judge(client);
      return this.clients.every(
        (client) =>
          !client.connected ||
          [...client.listened].every((key) => {
            const pos = client.pos.get(key);
            const top = this.model.top(key);
            return pos && this.#model(key, pos).gen === top.gen && pos.offset === top.offset;
          }),
      );
    };
    await waitFor(caughtUp, 10_000, "open streams to catch up with every key's top");
  }

  /** Every dead node started, every client connected (resuming), one more notify per key. */
  async finish(): Promise<void> {
    for (const [i, node] of this.world.nodes.entries()) if (!node.hub) await this.#start(i);
    for (const client of this.clients) {
      // back to its session's node where it still runs, else the first one
      const index = Math.max(0, this.#live().indexOf(client.node));
      if (!client.connected) await this.#connect(client, index, true);
    }
    await this.verify();
    for (const key of PKEYS) await this.#send(0, key);
    await this.verify();
    count("runs");
  }
}

/** Runs `ops` in a fresh world; closes it whatever happens. */
export async function runPositionOps(options: PWorldOptions, ops: readonly POp[]): Promise<void> {
  const world = await makePWorld(options);
  try {
    const run = new PRun(world);
    for (const op of ops) await run.apply(op);
    await run.finish();
  } finally {
    await world.close();
  }
}
