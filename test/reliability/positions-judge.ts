/**
 * The judge of the position model tests: what a client received, per key,
 * against the model (positions-model.ts). Every notification is the
 * model's one at its position; positions only grow (no duplicate, none out
 * of order); a position skipped is one the client was told it lost (an
 * in-stream `gap` naming the key, or `recovered: false` judged by the
 * runner), and a `gap` names only keys whose next notification the history
 * really lost. A notification without position is one a node whose bus was
 * down delivered to its own listeners only; each such notify at most once.
 */
import { expect } from "chai";
import type { FakeResponse } from "./fake.js";
import { type MPos, PKEYS, type PositionModel } from "./positions-model.js";

/** Counts of what the position model tests did, for the report. */
export const ptally: Record<string, number> = {};
export const count = (what: string): void => {
  ptally[what] = (ptally[what] ?? 0) + 1;
};

export interface Pos {
  readonly epoch: string;
  readonly offset: number;
}

export function parsePos(text: unknown): Pos {
  const match = typeof text === "string" ? /^([0-9a-z]{1,40})-(0|[1-9][0-9]*)$/.exec(text) : null;
  expect(match, `a position: ${String(text)}`).to.not.equal(null);
  return { epoch: (match as RegExpExecArray)[1] as string, offset: Number(match?.[2]) };
}

/** A browser: its stream, its session, and per key its position (SPEC §6). */
export interface PClient {
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
  /** Values without position received (each notify delivered so at most once). */
  readonly unplaced: Set<number>;
  /** Values without position this client's session must get (notified on its node, bus down). */
  readonly owed: Set<number>;
}

export function newClient(): PClient {
  return {
    conn: undefined,
    checked: 0,
    session: "",
    lastId: "",
    node: -1,
    life: 0,
    connected: false,
    wanted: new Set(),
    listened: new Set(),
    pos: new Map(),
    told: new Set(),
    unplaced: new Set(),
    owed: new Set(),
  };
}

export class Judge {
  readonly #model: PositionModel;
  /** Per key, the epoch of each generation, as first seen. */
  readonly #epochs = new Map<string, Map<number, string>>();
  /** Notifies made while their node's bus was down: value → node and key. */
  readonly unplaced = new Map<number, { readonly node: number; readonly key: string }>();

  constructor(model: PositionModel) {
    this.#model = model;
  }

  /** A client's position in the model (its epoch bound to the key's generation when new). */
  toModel(key: string, pos: Pos): MPos {
    let gens = this.#epochs.get(key);
    if (!gens) {
      gens = new Map();
      this.#epochs.set(key, gens);
    }
    for (const [gen, known] of gens) if (known === pos.epoch) return { gen, offset: pos.offset };
    const { gen } = this.#model.top(key);
    expect(gens.get(gen), `one epoch per history of ${key}`).to.equal(undefined);
    gens.set(gen, pos.epoch);
    return { gen, offset: pos.offset };
  }

  /** Has the client every key it listens to up to the key's top? */
  caughtUp(client: PClient): boolean {
    return [...client.listened].every((key) => {
      const pos = client.pos.get(key);
      if (pos === undefined) return false;
      const at = this.toModel(key, pos);
      const top = this.#model.top(key);
      if (at.gen === top.gen) return at.offset === top.offset;
      // all of an older history (or told the rest is lost), and nothing in the new one yet
      const all = this.#model.end(key, at.gen) === at.offset || client.told.has(key);
      return top.offset === 0 && all;
    });
  }

  /** Judges every event of the client's stream not judged yet. */
  judge(client: PClient): void {
    const events = client.conn?.events ?? [];
    while (client.checked < events.length) {
      const event = events[client.checked] as (typeof events)[number];
      client.checked += 1;
      client.lastId = event.id ?? client.lastId;
      if (event.event === "session") this.#gap(client, event.data);
      else this.#notification(client, event.event, event.data);
    }
  }

  #gap(client: PClient, text: string): void {
    const data = JSON.parse(text) as { status: string; lost: { notifier: string; key: string }[] };
    expect(data.status, `a session event in the stream: ${text}`).to.equal("gap");
    for (const { notifier, key } of data.lost) {
      expect(notifier).to.equal("chat");
      expect(PKEYS).to.include(key);
      expect(client.listened.has(key), `gap for ${key}, not listened`).to.equal(true);
      const pos = client.pos.get(key) as Pos;
      const lost = !this.#model.recoverable(key, this.toModel(key, pos));
      expect(lost, `gap for ${key} at ${pos.epoch}-${pos.offset}: the history had it`).to.equal(
        true,
      );
      client.told.add(key);
      count("gap");
    }
  }

  #notification(client: PClient, name: string, text: string): void {
    expect(name).to.equal("chat");
    const data = JSON.parse(text) as { key: string; data: number; pos?: string };
    const { key } = data;
    expect(client.listened.has(key), `a notification on ${key}, not listened`).to.equal(true);
    if (data.pos === undefined) {
      const made = this.unplaced.get(data.data);
      expect(made, `${text}: no position, yet not notified while its bus was down`).to.deep.equal({
        node: client.node,
        key,
      });
      expect(client.unplaced.has(data.data), `${text} twice`).to.equal(false);
      client.unplaced.add(data.data);
      count("unplaced");
      return;
    }
    const pos = parsePos(data.pos);
    const at = this.toModel(key, pos);
    expect(data.data, `the value at ${key} ${data.pos}`).to.equal(this.#model.value(key, at));
    const had = client.pos.get(key);
    const prev = had && this.toModel(key, had);
    const told = client.told.delete(key);
    if (prev && prev.gen === at.gen) {
      const what = `${key} ${data.pos} after ${prev.offset}: twice or out of order`;
      expect(at.offset, what).to.be.above(prev.offset);
      if (at.offset > prev.offset + 1) {
        const hole = `${key}: ${prev.offset + 1}..${at.offset - 1} skipped, no gap told`;
        expect(told, hole).to.equal(true);
        count("skipped after gap");
      }
    } else if (prev) {
      expect(at.gen, `${key} ${data.pos}: an older epoch`).to.be.above(prev.gen);
      // the first of a new history, after every one of the old: nothing lost
      const next = at.offset === 1 && this.#model.end(key, prev.gen) === prev.offset;
      expect(told || next, `${key}: a new epoch, something lost, no gap told`).to.equal(true);
    }
    client.pos.set(key, pos);
    count("delivered");
  }
}
