/**
 * Runs position-model operations (positions-ops.ts) against the model and a
 * world of nodes at once. Clients behave as SPEC §6 says a client does, in
 * raw HTTP: per key they keep the position of the last notification they
 * got (before any, the `pos` their listen answered) and listen again with
 * it as `since` on every new session (a listen refused with 503 while their
 * node's bus is down is tried again once it is back). `recovered` must be
 * exactly the model's; positions-judge.ts judges every event; after every
 * operation every open stream on a node with its bus catches up with every
 * key's top, and every stream gets what its node notified without the bus.
 */
import { expect } from "chai";
import { count, Judge, newClient, type PClient, parsePos } from "./positions-judge.js";
import { PKEYS, PositionModel } from "./positions-model.js";
import { CLIENTS, type POp } from "./positions-ops.js";
import { makePWorld, type PWorld, type PWorldOptions } from "./positions-world.js";
import { waitFor } from "./sse.js";

export { ptally } from "./positions-judge.js";

export class PRun {
  readonly world: PWorld;
  readonly model: PositionModel;
  readonly judge: Judge;
  readonly clients: PClient[] = Array.from({ length: CLIENTS }, newClient);
  /** Live nodes whose bus connection is cut. */
  readonly #cut = new Set<number>();
  #v = 0;

  constructor(world: PWorld) {
    this.world = world;
    this.model = new PositionModel(world.options.size);
    this.judge = new Judge(this.model);
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
      case "cut":
        return this.#cutOne(op.node);
      case "restore":
        return this.#restoreOne(op.node);
      case "outage":
        return this.#outage(op);
      case "flush": {
        for (const client of this.clients) this.judge.judge(client); // all of the old history
        const epochs = await this.world.flush();
        if (!epochs) return false;
        // an epoch of the history lost, maybe seen only later (a session's backlog)
        for (const [key, epoch] of epochs) this.judge.toModel(key, { epoch, offset: 0 });
        this.model.restart();
        return true;
      }
    }
  }

  #client(index: number): PClient {
    return this.clients[index % this.clients.length] as PClient;
  }

  #live(): number[] {
    return this.world.nodes.flatMap((node, i) => (node.hub ? [i] : []));
  }

  /** Live nodes with their bus. */
  #connected(): number[] {
    return this.#live().filter((i) => !this.#cut.has(i));
  }

  /** Clients whose stream is open on this node's current hub. */
  #on(node: number): PClient[] {
    const life = this.world.nodes[node]?.life;
    return this.clients.filter((c) => c.connected && c.node === node && c.life === life);
  }

  async #connect(client: PClient, index: number, resume: boolean): Promise<boolean> {
    const live = this.#live();
    if (live.length === 0) return false;
    const node = live[index % live.length] as number;
    if (client.connected) client.conn?.drop(); // moving: the old stream is gone first
    client.connected = false;
    this.judge.judge(client);
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
    client.owed.clear();
    await this.#relisten(client, [...client.wanted]);
    return true;
  }

  async #listen(client: PClient, key: string): Promise<boolean> {
    if (client.wanted.has(key)) return false;
    client.wanted.add(key);
    if (client.connected) await this.#relisten(client, [key]);
    return true;
  }

  /** `/listen` with `since` for `keys`, judged against the model. */
  async #relisten(client: PClient, all: readonly string[]): Promise<void> {
    const keys = all.filter((key) => !client.listened.has(key));
    if (keys.length === 0) return;
    const since = keys.map((key) => {
      const pos = client.pos.get(key);
      return pos === undefined ? null : `${pos.epoch}-${pos.offset}`;
    });
    // what the history holds now (nothing notifies while this listen runs)
    const expected = keys.map((key, i) => {
      const pos = client.pos.get(key);
      return since[i] === null || !pos
        ? null
        : this.model.recoverable(key, this.judge.toModel(key, pos));
    });
    const items = keys.map((key, i) => ({ notifier: "chat", key, since: since[i] }));
    const reply = await this.world.post(client.node, "/listen", { session: client.session, items });
    if (this.#cut.has(client.node)) {
      // the history cannot be read: refused, nothing applied; tried again once the bus is back
      expect(reply.status, `listen without the bus ${reply.text}`).to.equal(503);
      count("listen:503");
      return;
    }
    expect(reply.status, `listen ${reply.text}`).to.equal(200);
    const answers = (JSON.parse(reply.text) as { items: { pos: string; recovered: unknown }[] })
      .items;
    keys.forEach((key, i) => {
      const answer = answers[i] as { pos: string; recovered: unknown };
      const pos = parsePos(answer.pos);
      expect(this.judge.toModel(key, pos), `the position of ${key}`).to.deep.equal(
        this.model.top(key),
      );
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
    const chat = this.world.nodes[node]?.chat;
    if (!this.#cut.has(node)) {
      this.model.notify(key, v);
      await chat?.notify(key, v);
      return;
    }
    // SPEC §5.7: delivered on this node only, in no history (no position), and the notify rejects
    this.judge.unplaced.set(v, { node, key });
    for (const client of this.#on(node)) if (client.listened.has(key)) client.owed.add(v);
    const failed = await chat?.notify(key, v).then(
      () => "resolved",
      (error: { code?: string }) => error.code,
    );
    expect(failed, "a notify while the bus is down").to.equal("unavailable");
  }

  async #kill(index: number): Promise<boolean> {
    const live = this.#live();
    if (live.length === 0) return false;
    const node = live[index % live.length] as number;
    const here = this.#on(node);
    for (const client of here) client.connected = false;
    this.#cut.delete(node); // a restart comes with its network back
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
    for (const client of this.clients) this.judge.judge(client); // all the old process sent
    await this.world.start(node);
    if (this.world.options.bus === "local") this.model.restart(); // its history was in-process
  }

  async #cutOne(index: number): Promise<boolean> {
    const up = this.#connected();
    if (up.length === 0) return false;
    const node = up[index % up.length] as number;
    await this.world.cut(node);
    this.#cut.add(node);
    return true;
  }

  async #restoreOne(index: number): Promise<boolean> {
    const down = this.#live().filter((i) => this.#cut.has(i));
    if (down.length === 0) return false;
    await this.#restore(down[index % down.length] as number);
    return true;
  }

  /** The node's bus is back: its clients listen to what was refused meanwhile. */
  async #restore(node: number): Promise<void> {
    await this.world.restore(node);
    this.#cut.delete(node);
    for (const client of this.#on(node)) await this.#relisten(client, [...client.wanted]);
  }

  async #outage(op: Extract<POp, { op: "outage" }>): Promise<boolean> {
    const up = this.#connected();
    if (up.length === 0) return false;
    const node = up[op.node % up.length] as number;
    const others = up.filter((i) => i !== node);
    await this.world.cut(node);
    this.#cut.add(node);
    for (const notify of others.length > 0 ? op.notifies : []) {
      const from = others[notify.node % others.length] as number;
      await this.#send(from, PKEYS[notify.key % PKEYS.length] as string);
    }
    await this.#restore(node);
    return true;
  }

  /**
   * Judges every stream, and waits until every open one has what its node
   * notified without the bus and, on a node with its bus, every key's top.
   */
  async verify(): Promise<void> {
    const caughtUp = () => {
      for (const client of this.clients) this.judge.judge(client);
      return this.clients.every(
        (client) =>
          !client.connected ||
          ([...client.owed].every((v) => client.unplaced.has(v)) &&
            (this.#cut.has(client.node) || this.judge.caughtUp(client))),
      );
    };
    await waitFor(caughtUp, 10_000, "open streams to catch up with every key's top");
  }

  /** Every bus back, every dead node started, every client connected (resuming), one more notify per key. */
  async finish(): Promise<void> {
    for (const node of [...this.#cut]) await this.#restore(node);
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
    let step = "finish";
    try {
      for (const [i, op] of ops.entries()) {
        step = `op ${i} ${JSON.stringify(op)}`;
        await run.apply(op);
      }
      step = "finish";
      await run.finish();
    } catch (error) {
      if (error instanceof Error) error.message += ` (at ${step})`;
      throw error;
    }
  } finally {
    await world.close();
  }
}
