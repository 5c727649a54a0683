/**
 * What the clients of a model run received, checked against the model: each
 * stream's session event (status, id, a never-seen id for a new session),
 * then every event the model's next one for that session, ids counting up by
 * one, data exact, no seq twice across a session's streams.
 */
import { expect } from "chai";
import type { MSession, ResumePlan } from "./model.js";
import type { Conn } from "./world.js";

export interface Check {
  readonly conn: Conn;
  readonly session: MSession;
  /** The client reconnected and reads this stream no more (as EventSource does). */
  abandoned: boolean;
  /** Seq of the last event verified. */
  cursor: number;
  /** Events verified (the session event included). */
  checked: number;
}

/** Counts of what the model tests did, for the report. */
export const tally: Record<string, number> = {};

export function count(what: string, n = 1): void {
  tally[what] = (tally[what] ?? 0) + n;
}

export class Streams {
  readonly #checks: Check[] = [];
  readonly #seen = new WeakMap<MSession, Set<number>>();
  readonly #ids = new Set<string>();
  /** The epoch of each key's positions, as first seen (one per key while its history lives). */
  readonly #epochs = new Map<string, string>();

  /** An event's data with its position's epoch checked and written "@", as the model writes it. */
  #withoutEpoch(event: string, data: string): string {
    const match = /^(\{"key":.*),"pos":"([0-9a-z]{1,40})-([1-9][0-9]*)"\}$/.exec(data);
    if (!match) return data;
    const [, head, epoch, offset] = match as unknown as [string, string, string, string];
    const key = `${event} ${head.slice(0, head.lastIndexOf(',"data":'))}`;
    const known = this.#epochs.get(key) ?? epoch;
    expect(epoch, `the epoch of ${key}`).to.equal(known);
    this.#epochs.set(key, epoch);
    return `${head},"pos":"@-${offset}"}`;
  }

  /** Checks the session event of a new stream and starts verifying it. */
  start(conn: Conn, session: MSession, plan: ResumePlan): Check {
    const first = conn.events[0];
    expect(first, "the session event").to.not.equal(undefined);
    expect(first?.event).to.equal("session");
    const data = JSON.parse(first?.data ?? "{}") as { session: string; status: string };
    const cursor = plan.type === "new" ? 0 : plan.cursor;
    expect(data.status, "resume status").to.equal(plan.type);
    if (plan.type === "new") {
      expect(this.#ids.has(data.session), "a session id is never reused").to.equal(false);
      this.#ids.add(data.session);
      session.id = data.session;
    }
    expect(data.session).to.equal(session.id);
    expect(first?.id).to.equal(`${session.id}:${cursor}`);
    const check: Check = { conn, session, cursor, checked: 1, abandoned: false };
    this.#checks.push(check);
    return check;
  }

  verify(check: Check): void {
    if (check.abandoned) return;
    const { events } = check.conn;
    const { session } = check;
    let seen = this.#seen.get(session);
    if (!seen) {
      seen = new Set();
      this.#seen.set(session, seen);
    }
    while (check.checked < events.length) {
      const event = events[check.checked] as (typeof events)[number];
      check.checked += 1;
      const seq = check.cursor + 1;
      expect(event.id, "ids count up by one").to.equal(`${session.id}:${seq}`);
      const want = session.log[seq - 1];
      expect(want, `event ${seq} was never pushed: ${event.event} ${event.data}`).to.not.equal(
        undefined,
      );
      const data = this.#withoutEpoch(event.event, event.data);
      expect({ event: event.event, data }).to.deep.equal(want);
      expect(seen.has(seq), `event ${seq} received twice`).to.equal(false);
      seen.add(seq);
      check.cursor = seq;
      count("delivered");
    }
  }

  verifyAll(): void {
    for (const check of this.#checks) this.verify(check);
  }

  /** Forgets streams that ended and were read to the end. */
  prune(): void {
    for (let i = this.#checks.length - 1; i >= 0; i -= 1) {
      const check = this.#checks[i] as Check;
      const done = check.abandoned || check.checked === check.conn.events.length;
      if (check.conn.ended && done) this.#checks.splice(i, 1);
    }
  }
}
