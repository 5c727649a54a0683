/**
 * Slow and hostile clients (issue 6): readers that stop during a burst or
 * never read are cut while the others get everything in order and the
 * server's memory stays bounded (the server runs in its own process, so its
 * RSS is its own); open-and-close in a tight loop leaves nothing behind;
 * garbage Last-Event-IDs always start a new session and touch nobody else;
 * a flood of listens stops at maxKeysPerSession with 429.
 */
import http from "node:http";
import { expect } from "chai";
import fc from "fast-check";
import { defineNotifier } from "../../protocol/contract.js";
import { closeAll, startServer, until } from "../helpers.js";
import { type Child, type Memory, startChild } from "./child.js";
import { openSse, type ParsedEvent, request, type SseConn, waitFor } from "./sse.js";

const JSON_TYPE = { "content-type": "application/json" };

/** A reader of `{n, pad}` notifications that checks order as it goes and keeps no text. */
interface Reader {
  conn: SseConn;
  session: string;
  status: string;
  /** Last n received; every n from 1 came exactly once, in order, or `broken` says where not. */
  last: number;
  broken: string | undefined;
  lastId: string;
}

function read(
  url: string,
  onEvent?: (reader: Reader, event: ParsedEvent) => void,
  headers = {},
  from = 0,
) {
  const reader: Reader = {
    conn: undefined as unknown as SseConn,
    session: "",
    status: "",
    last: from,
    broken: undefined,
    lastId: "",
  };
  return openSse(`${url}/events`, {
    keep: false,
    headers,
    onEvent: (event, conn) => {
      reader.conn = conn;
      reader.lastId = event.id;
      if (event.event === "session") {
        const data = JSON.parse(event.data) as { session: string; status: string };
        reader.session = data.session;
        reader.status = data.status;
      } else {
        const n = Number(/^\{"key":"[^"]*","data":\{"n":(\d+),/.exec(event.data)?.[1]);
        if (n !== reader.last + 1) reader.broken ??= `got ${n} after ${reader.last}`;
        reader.last = n;
      }
      onEvent?.(reader, event);
    },
  }).then(async (conn) => {
    reader.conn = conn;
    return reader;
  });
}

async function listenTo(url: string, session: string, key: string, headers = {}) {
  return request(`${url}/listen`, {
    headers: { ...JSON_TYPE, ...headers },
    body: JSON.stringify({ session, notifier: "chat", key }),
  });
}

describe("reliability: slow and hostile clients", function () {
  this.timeout(60_000);
  afterEach(closeAll);

  describe("a burst with readers that stop (server in its own process)", () => {
    let child: Child | undefined;
    afterEach(() => child?.kill());

    it("cuts the 10% that stop reading and the ones that never read; the rest get everything in order; RSS stays under 2× idle", async () => {
      child = await startChild({
        maxBufferedBytes: 256 * 1024,
        retention: 20_000,
        retentionBytes: 100 * 1024 * 1024, // the whole burst: the cut ones resume without a gap
        sessionTimeout: 1_500,
      });
      const { url } = child;
      const stopAt = (reader: Reader) => {
        if (reader.last === 50) reader.conn.pause();
      };
      const readers: Reader[] = [];
      for (let i = 0; i < 20; i += 1) readers.push(await read(url, i < 2 ? stopAt : undefined));
      // reads its session event, listens, and never reads again
      const stuck = await read(url, (reader) => reader.conn.pause());
      // opens a stream and never reads anything (its session event included)
      const mute = await openSse(`${url}/events`, { paused: true, keep: false });
      await waitFor(() => readers.every((r) => r.session !== "") && stuck.session !== "");
      for (const reader of [...readers, stuck]) {
        expect((await listenTo(url, reader.session, "k")).status).to.equal(204);
      }
      const idle = await child.getJson<Memory>("/mem?reset");
      const { sent } = await child.postJson<{ sent: number }>("/burst", {
        key: "k",
        count: 20_000,
        size: 4_000,
        every: 1,
        pause: 1,
        streamsBelow: 20, // until the two that stopped and the stuck one are cut
      });
      const after = await child.getJson<Memory>("/mem");
      const stats = await child.getJson<{ streams: number; sessions: number }>("/hubstats");
      expect(stats.streams, "the 3 slow streams are cut, the mute one is not").to.equal(19);
      expect(stats.sessions).to.equal(22);
      const fast = readers.slice(2);
      await waitFor(() => fast.every((r) => r.last === sent), 10_000, "the others to get all");
      for (const reader of fast) {
        expect(reader.broken, "in order, exactly once").to.equal(undefined);
        expect(reader.conn.ended, "not cut").to.equal(false);
      }
      expect(after.peak, `peak RSS ${after.peak} vs idle ${idle.rss}`).to.be.lessThan(2 * idle.rss);
      if (process.env.RELIABILITY_REPORT) {
        const mib = (n: number) => `${(n / 1_048_576).toFixed(1)} MiB`;
        console.log(
          `burst: ${sent} notifies of 4 kB to 22 streams; server RSS idle ${mib(idle.rss)}, ` +
            `peak ${mib(after.peak)}, after ${mib(after.rss)} (gc: ${idle.gc})`,
        );
      }
      // the ones that stopped resume from their last event and get the rest
      for (const slow of [readers[0], readers[1], stuck] as Reader[]) {
        slow.conn.drop();
        const again = await read(url, undefined, { "last-event-id": slow.lastId }, slow.last);
        await waitFor(() => again.status !== "");
        expect(again.status).to.equal("resumed");
        await waitFor(() => again.last === sent, 10_000, "the replay");
        expect(again.broken, "the replay continues where the reader stopped").to.equal(undefined);
        again.conn.drop();
      }
      for (const reader of [...readers, stuck]) {
        const closed = await request(`${url}/close`, {
          headers: JSON_TYPE,
          body: JSON.stringify({ session: reader.session }),
        });
        expect(closed.status).to.equal(204);
      }
      mute.drop(); // its session expires sessionTimeout later
      await until(async () => {
        const s = await child?.getJson<{ sessions: number; streams: number; listens: number }>(
          "/hubstats",
        );
        return s?.sessions === 0 && s.streams === 0 && s.listens === 0;
      }, 5_000);
    });
  });

  it("open-and-close in a tight loop (300 times, every way of leaving) leaves stats at zero after sessionTimeout", async () => {
    const { url, hub, origin } = await startServer({ sessionTimeout: 100 });
    hub.notifier(defineNotifier<string, string>("chat"));
    const ways = [
      async () => (await read(url)).conn.drop(), // as soon as the headers are in
      async () => {
        const reader = await read(url);
        await waitFor(() => reader.session !== "");
        await listenTo(url, reader.session, `k${reader.session.length % 7}`);
        reader.conn.drop();
      },
      async () => {
        const reader = await read(url);
        await waitFor(() => reader.session !== "");
        await request(`${url}/close`, {
          headers: JSON_TYPE,
          body: JSON.stringify({ session: reader.session }),
        });
        await reader.conn.done();
      },
      () =>
        new Promise<void>((resolve) => {
          // gone before the answer: the request is sent and the socket destroyed
          const req = http.get(`${url}/events`);
          req.on("socket", (socket) =>
            socket.on("connect", () => setImmediate(() => req.destroy())),
          );
          req.on("error", () => resolve());
          req.on("close", () => resolve());
        }),
    ];
    for (let i = 0; i < 300; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => ways[(i + j) % ways.length]?.()));
    }
    await until(() => hub.stats().sessions === 0, 5_000);
    const { sessions, streams, keys, listens } = hub.stats();
    expect({ sessions, streams, keys, listens }).to.deep.equal({
      sessions: 0,
      streams: 0,
      keys: 0,
      listens: 0,
    });
    expect((await request(`${origin}/notif/stats`, { method: "GET" })).status).to.equal(200);
  });

  it("a garbage Last-Event-ID (random, huge, unicode, ':'-laden, near-valid) always gives a new session and touches no one", async () => {
    // Each try makes a new session of ann or bob, kept for sessionTimeout: no per-identity cap here.
    const { url, hub } = await startServer({
      sessionTimeout: 60_000,
      maxSessionsPerIdentity: 10_000,
    });
    const chat = hub.notifier(defineNotifier<string, { n: number; pad: string }>("chat"));
    const bystander = await read(url, undefined, { "x-user": "ann" });
    await waitFor(() => bystander.session !== "");
    await listenTo(url, bystander.session, "k", { "x-user": "ann" });
    await chat.notify("k", { n: 1, pad: "" });
    await waitFor(() => bystander.last === 1);
    const own = bystander.session;
    const near = fc.oneof(
      fc.constantFrom(
        `${own}:2`,
        `${own}:-1`,
        `${own}:01`,
        `${own}:1.0`,
        `${own}: 1`,
        `${own}:1e0`,
      ),
      fc.constantFrom(`${own}:0x1`, `${own}`, `${own}:`, `:${own}:1`, `${own}::1`, ` ${own}:1`),
      fc.constantFrom(
        `${own}:99999999999999999999`,
        `${own}:9007199254740993`,
        `${own.toUpperCase()}:1`,
      ),
      fc.nat().map((n) => `${own}:${n + 2}`),
    );
    const garbage = fc.oneof(
      near,
      fc.string({ maxLength: 64 }),
      fc.string({ unit: "grapheme", maxLength: 32 }),
      fc.string({ unit: "binary", maxLength: 32 }),
      fc.string({
        unit: fc.constantFrom(":", ":", "a", "1", ".", "\n", "\r", "\0", "\u2028", "😀"),
        maxLength: 40,
      }),
      fc.integer({ min: 1_000, max: 12_000 }).map((n) => ":".repeat(n)),
      fc.integer({ min: 1_000, max: 12_000 }).map((n) => `${"a".repeat(n)}:1`),
    );
    let count = 0;
    await fc.assert(
      fc.asyncProperty(
        garbage,
        fc.boolean(),
        fc.constantFrom("ann", "bob"),
        async (id, query, user) => {
          if (user === "ann" && (id === `${own}:1` || id === `${own}:0`)) return; // genuine resumes
          // a header goes as bytes and cannot hold controls (nor keep outer spaces); node
          // refuses a request line or headers over 16 KiB with 431 before any app sees them
          const bytes = Buffer.from(id, "utf8").toString("latin1");
          const sendable = !/[^\t\x20-\x7e\x80-\xff]/.test(bytes) && bytes.trim() === bytes;
          const fits = encodeURIComponent(id).length < 12_000;
          if (!sendable && !fits) return;
          const viaQuery = (query && fits) || !sendable;
          count += 1;
          const path = viaQuery ? `?lastEventId=${encodeURIComponent(id)}` : "";
          const headers: Record<string, string> = { "x-user": user };
          if (!viaQuery) headers["last-event-id"] = bytes;
          const conn = await openSse(`${url}/events${path}`, { headers });
          await waitFor(() => conn.events.length > 0, 3_000, "the session event");
          const first = conn.events[0] as ParsedEvent;
          const data = JSON.parse(first.data) as { session: string; status: string };
          expect(data.status, JSON.stringify(id)).to.equal("new");
          expect(data.session).to.not.equal(own);
          expect(first.id).to.equal(`${data.session}:0`);
          conn.drop();
        },
      ),
      { numRuns: 300 },
    );
    expect(bystander.conn.ended, "the bystander's stream is untouched").to.equal(false);
    expect(chat.listeners("k")).to.equal(1);
    await chat.notify("k", { n: 2, pad: "" });
    await waitFor(() => bystander.last === 2);
    expect(bystander.broken).to.equal(undefined);
    expect(count).to.be.greaterThan(100);
  });

  it("a flood of concurrent listens to distinct keys stops at maxKeysPerSession with 429, all or nothing", async () => {
    const { url, hub } = await startServer({ maxKeysPerSession: 300 });
    const chat = hub.notifier(defineNotifier<string, string>("chat"));
    const flooder = await read(url);
    const bystander = await read(url);
    await waitFor(() => flooder.session !== "" && bystander.session !== "");
    await listenTo(url, bystander.session, "shared");
    const statuses: number[] = [];
    const keys = Array.from({ length: 700 }, (_, i) => `key-${i}-${"é".repeat(i % 5)}`);
    for (let i = 0; i < keys.length; i += 50) {
      const answers = await Promise.all(
        keys.slice(i, i + 50).map((key) => listenTo(url, flooder.session, key)),
      );
      for (const answer of answers) {
        statuses.push(answer.status);
        if (answer.status === 429) expect(answer.code).to.equal("too_many_keys");
      }
    }
    expect(statuses.filter((s) => s === 204)).to.have.length(300);
    expect(statuses.filter((s) => s === 429)).to.have.length(400);
    expect(hub.stats().listens).to.equal(301);
    const held = keys[statuses.indexOf(204)] as string;
    expect(
      (await listenTo(url, flooder.session, held)).status,
      "a key held is no new key",
    ).to.equal(204);
    const batch = await request(`${url}/listen`, {
      headers: JSON_TYPE,
      body: JSON.stringify({
        session: flooder.session,
        items: [
          { notifier: "chat", key: held },
          { notifier: "chat", key: "one-more" },
        ],
      }),
    });
    expect(batch.status).to.equal(429);
    expect(hub.stats().listens).to.equal(301);
    expect(chat.listeners("shared")).to.equal(1);
    expect(hub.stats().keys).to.equal(301);
  });
});
