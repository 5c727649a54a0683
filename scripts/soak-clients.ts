/**
 * The soak's client process (started by scripts/soak.ts): SOAK_SESSIONS raw
 * HTTP SSE connections parsed incrementally, with churn (drop and resume,
 * close and start again, listen and unlisten), recording every event. At the
 * end it closes everything, fetches the server's log of which key each g
 * was notified on, and counts per session: delivered, lost (a notify it
 * must have got and did not), duplicated or out of order, unexpected (on a
 * key it did not listen to), sessions lost on resume, gaps.
 */
import http from "node:http";
import { openSse, type ParsedEvent, request, type SseConn } from "../test/reliability/sse.js";

const base = process.env.SOAK_URL as string;
const sessions = Number(process.env.SOAK_SESSIONS ?? 5_000);
const keyCount = Number(process.env.SOAK_KEYS ?? 500);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
/** SOAK_SELFTEST=1: ignore one event in 500, to see the checks catch it. */
const selftest = process.env.SOAK_SELFTEST === "1";
let seen = 0;

/** One listen of a key: must get every g in (from, to]; may get any g in (allowFrom, allowTo]. */
interface Period {
  readonly key: number;
  readonly from: number;
  readonly allowFrom: number;
  to: number;
  allowTo: number;
}

interface Session {
  id: string;
  conn: SseConn | undefined;
  lastId: string;
  nextSeq: number;
  readonly periods: Period[];
  readonly open: Map<number, Period>;
  /** g of each event received, in order; key per g is checked against the log at the end. */
  readonly got: number[];
  readonly gotKey: number[];
  closed: boolean;
  busy: boolean;
  /** Ranges (after, before) of g a `gap` excused: evicted before the resume. */
  readonly excused: [number, number][];
  /** Set by a `gap` status: the next event closes an excused range. */
  gapAfter: number | undefined;
}

export interface Results {
  sessions: number;
  delivered: number;
  /** Deliveries the checks required (must be most of `delivered`, else they were void). */
  required: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  sessionsLost: number;
  gaps: number;
  /** Notifies missed inside a range a `gap` status told of. */
  excused: number;
  errors: number;
  resumes: number;
  renewals: number;
  relistens: number;
}

const all: Session[] = [];
const results: Results = {
  sessions: 0,
  delivered: 0,
  required: 0,
  lost: 0,
  duplicated: 0,
  unexpected: 0,
  sessionsLost: 0,
  gaps: 0,
  excused: 0,
  errors: 0,
  resumes: 0,
  renewals: 0,
  relistens: 0,
};
let churning = false;

const randomKey = () => Math.floor(Math.random() * keyCount);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function onEvent(session: Session, event: ParsedEvent): void {
  session.lastId = event.id;
  const seq = Number(event.id.slice(event.id.lastIndexOf(":") + 1));
  if (event.event === "session") {
    const { status } = JSON.parse(event.data) as { status: string };
    if (status === "gap") {
      results.gaps += 1;
      session.gapAfter = session.got.at(-1) ?? 0;
    }
    session.nextSeq = seq + 1;
    return;
  }
  if (seq !== session.nextSeq) results.duplicated += 1; // a seq twice, or out of order
  session.nextSeq = seq + 1;
  const match = /^\{"key":"k(\d+)","data":\{"g":(\d+)\}\}$/.exec(event.data);
  if (!match) {
    results.errors += 1;
    return;
  }
  const g = Number(match[2]);
  if (selftest && ++seen % 500 === 0) return;
  if (session.gapAfter !== undefined) {
    session.excused.push([session.gapAfter, g]);
    session.gapAfter = undefined;
  }
  if (session.got.length > 0 && g <= (session.got.at(-1) as number)) results.duplicated += 1;
  session.got.push(g);
  session.gotKey.push(Number(match[1]));
  results.delivered += 1;
}

/** Opens a stream for the session; resolves with the session id its session event names. */
async function connect(session: Session, lastEventId?: string): Promise<string> {
  const headers: Record<string, string> = lastEventId ? { "last-event-id": lastEventId } : {};
  let named: string | undefined;
  const conn = await openSse(`${base}/notif/events`, {
    keep: false,
    headers,
    onEvent: (event) => {
      if (named === undefined && event.event === "session") {
        named = (JSON.parse(event.data) as { session: string }).session;
      }
      onEvent(session, event);
    },
  });
  session.conn = conn;
  const started = Date.now();
  while (named === undefined) {
    if (conn.ended || Date.now() - started > 10_000) throw new Error("no session event");
    await sleep(5);
  }
  return named;
}

async function post(
  path: string,
  body: object,
): Promise<{ status: number; g0: number; g1: number }> {
  const answer = await request(`${base}/notif${path}`, {
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    agent,
  });
  const g0 = Number(answer.headers["x-soak-g0"]);
  const g1 = Number(answer.headers["x-soak-g1"]);
  if (!Number.isSafeInteger(g0) || !Number.isSafeInteger(g1)) {
    throw new Error(`${path} answered without x-soak-g0/g1: the checks would be void`);
  }
  return { status: answer.status, g0, g1 };
}

async function listen(session: Session, key: number): Promise<void> {
  if (session.open.has(key)) return;
  const answer = await post("/listen", { session: session.id, notifier: "soak", key: `k${key}` });
  if (answer.status !== 204) throw new Error(`listen: ${answer.status}`);
  const period: Period = {
    key,
    from: answer.g1,
    allowFrom: answer.g0,
    to: Infinity,
    allowTo: Infinity,
  };
  session.periods.push(period);
  session.open.set(key, period);
}

async function unlisten(session: Session, key: number): Promise<void> {
  const period = session.open.get(key);
  if (!period) return;
  const answer = await post("/unlisten", { session: session.id, notifier: "soak", key: `k${key}` });
  if (answer.status !== 204) throw new Error(`unlisten: ${answer.status}`);
  period.to = answer.g0;
  period.allowTo = answer.g1;
  session.open.delete(key);
}

async function start(): Promise<Session> {
  const session: Session = {
    id: "",
    conn: undefined,
    lastId: "",
    nextSeq: 1,
    periods: [],
    open: new Map(),
    got: [],
    gotKey: [],
    closed: false,
    busy: true,
    excused: [],
    gapAfter: undefined,
  };
  all.push(session);
  results.sessions += 1;
  session.id = await connect(session);
  const count = 1 + Math.floor(Math.random() * 3);
  for (let i = 0; i < count; i += 1) await listen(session, randomKey());
  session.busy = false;
  return session;
}

/** Ends the session: closes its listen periods at what it received last, then POST /close. */
async function close(session: Session): Promise<void> {
  session.closed = true;
  const answer = await post("/close", { session: session.id });
  if (answer.status !== 204) throw new Error(`close: ${answer.status}`);
  for (const period of session.open.values()) period.allowTo = answer.g1;
  session.open.clear();
}

async function dropAndResume(session: Session): Promise<void> {
  session.conn?.drop();
  await sleep(50 + Math.random() * 450);
  const id = await connect(session, session.lastId);
  results.resumes += 1;
  if (id !== session.id) {
    results.sessionsLost += 1; // a new session: the old one's listens are gone
    session.id = id;
    for (const period of session.open.values()) period.to = session.got.at(-1) ?? 0;
    session.open.clear();
  }
}

async function churnOne(): Promise<void> {
  const live = all.filter((s) => !s.closed && !s.busy);
  const session = live[Math.floor(Math.random() * live.length)];
  if (!session) return;
  session.busy = true;
  try {
    const dice = Math.random();
    if (dice < 0.45) await dropAndResume(session);
    else if (dice < 0.9) {
      // 1 key: listen to another; 3: unlisten one; 2: move one (listens stay level, ~2 each)
      const [held] = [...session.open.keys()];
      const size = session.open.size;
      if (held !== undefined && size >= 2) await unlisten(session, held);
      if (size <= 2) await listen(session, randomKey());
      results.relistens += 1;
    } else {
      await close(session);
      results.renewals += 1;
      await start();
    }
  } catch (error) {
    results.errors += 1;
    console.error("soak client:", (error as Error).message);
  } finally {
    session.busy = false;
  }
}

/** Counts losses, duplicates and strays against the server's log. */
function verify(log: number[]): void {
  for (const session of all) {
    const last = session.got.at(-1) ?? 0;
    const got = new Set(session.got);
    session.got.forEach((g, i) => {
      const key = session.gotKey[i] as number;
      const allowed = session.periods.some(
        (p) => p.key === key && g > p.allowFrom && g <= p.allowTo,
      );
      if (log[g - 1] === key && allowed) return;
      if (results.unexpected === 0) {
        console.error("soak client: unexpected", {
          g,
          key,
          logged: log[g - 1],
          periods: session.periods,
        });
      }
      results.unexpected += 1;
    });
    for (const period of session.periods) {
      const to = Math.min(period.to, last);
      for (let g = period.from + 1; g <= to; g += 1) {
        if (log[g - 1] !== period.key) continue;
        results.required += 1;
        if (got.has(g)) continue;
        if (session.excused.some(([after, before]) => g > after && g < before))
          results.excused += 1;
        else results.lost += 1;
      }
    }
  }
}

process.on("message", async (message: { type: string }) => {
  if (message.type === "ramp") {
    for (let i = 0; i < sessions; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, sessions - i) }, () => start()));
    }
    process.send?.({ type: "ramped", open: all.length });
  } else if (message.type === "churn") {
    churning = true;
    const { perSecond } = message as unknown as { perSecond: number };
    while (churning) {
      for (let i = 0; i < perSecond / 10; i += 1) void churnOne();
      await sleep(100);
    }
  } else if (message.type === "finish") {
    churning = false;
    while (all.some((s) => s.busy)) await sleep(50);
    await sleep(3_000); // let the last notifies arrive
    for (const session of all.filter((s) => !s.closed)) {
      await close(session).catch(() => {
        results.errors += 1;
      });
    }
    for (const session of all) session.conn?.drop();
    const answer = await request(`${base}/soak/log`, { method: "GET", agent });
    verify(JSON.parse(answer.text) as number[]);
    agent.destroy();
    process.send?.({ type: "done", results });
  }
});
process.on("disconnect", () => process.exit(0));
process.send?.({ type: "ready" });
