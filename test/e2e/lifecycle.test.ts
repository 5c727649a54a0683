import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import {
  closeAll,
  listen,
  notifications,
  openRaw,
  openSession,
  post,
  startServer,
  until,
} from "../helpers.js";

const chat = defineNotifier<string, string>("chat");
const empty = { sessions: 0, streams: 0, keys: 0, listens: 0 };

function counts(stats: { sessions: number; streams: number; keys: number; listens: number }) {
  const { sessions, streams, keys, listens } = stats;
  return { sessions, streams, keys, listens };
}

describe("cleanup", () => {
  afterEach(closeAll);

  it("ends a session on POST /close, with its stream and listens", async () => {
    const { url, hub } = await startServer();
    hub.notifier(chat);
    const raw = await openSession(url);
    await listen(url, raw.session(), "chat", "a");
    await listen(url, raw.session(), "chat", "b");
    expect(counts(hub.stats())).to.deep.equal({ sessions: 1, streams: 1, keys: 2, listens: 2 });
    expect((await post(`${url}/close`, { session: raw.session() })).status).to.equal(204);
    await raw.ended();
    expect(counts(hub.stats())).to.deep.equal(empty);
    expect((await listen(url, raw.session(), "chat", "a")).status).to.equal(410);
  });

  it("accepts /close as navigator.sendBeacon sends it (a Blob of type application/json)", async () => {
    const { url, hub } = await startServer();
    const raw = await openSession(url);
    const res = await fetch(`${url}/close`, {
      method: "POST",
      body: new Blob([JSON.stringify({ session: raw.session() })], { type: "application/json" }),
    });
    expect(res.status).to.equal(204);
    expect(hub.stats().sessions).to.equal(0);
  });

  it("ends a session sessionTimeout after its stream dropped, not while it is open", async () => {
    const { url, hub } = await startServer({ sessionTimeout: 150 });
    hub.notifier(chat);
    const kept = await openSession(url);
    const dropped = await openSession(url);
    await listen(url, kept.session(), "chat", "a");
    await listen(url, dropped.session(), "chat", "a");
    dropped.close();
    await until(() => hub.stats().streams === 1, 2_000, "the stream to drop");
    expect(hub.stats().sessions).to.equal(2); // kept for resume meanwhile
    await until(() => hub.stats().sessions === 1, 2_000, "the expiry");
    expect(counts(hub.stats())).to.deep.equal({ sessions: 1, streams: 1, keys: 1, listens: 1 });
    const again = await openRaw(`${url}/events`, { "last-event-id": `${dropped.session()}:0` });
    await again.event(0);
    expect(again.status_()).to.equal("new");
  });

  it("hub.close() ends every stream and session, rejects notify, answers 503 after", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const raws = await Promise.all([openSession(url), openSession(url)]);
    for (const raw of raws) await listen(url, raw.session(), "chat", "a");
    await hub.close();
    await Promise.all(raws.map((raw) => raw.ended()));
    expect(counts(hub.stats())).to.deep.equal(empty);
    try {
      await n.notify("a", "late");
      expect.fail("notify after close must reject");
    } catch (error) {
      expect((error as { code?: string }).code).to.equal("unavailable");
    }
    const res = await fetch(`${url}/events`);
    expect(res.status).to.equal(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).to.equal("unavailable");
  });

  it("leaves no session, key or listen after many sessions come and go", async () => {
    const { url, hub } = await startServer({ sessionTimeout: 50 });
    hub.notifier(chat);
    const raws = await Promise.all(Array.from({ length: 30 }, () => openSession(url)));
    await Promise.all(raws.map((raw, i) => listen(url, raw.session(), "chat", `k${i % 7}`)));
    for (const [i, raw] of raws.entries()) {
      if (i % 2) raw.close();
      else await post(`${url}/close`, { session: raw.session() });
    }
    await until(() => hub.stats().sessions === 0, 3_000, "every session to end");
    expect(counts(hub.stats())).to.deep.equal(empty);
  });
});

describe("backpressure", () => {
  afterEach(closeAll);

  it("cuts a client that stops reading once maxBufferedBytes wait, and it resumes with gap", async () => {
    const { url, hub } = await startServer({ maxBufferedBytes: 64 * 1024, retention: 50 });
    const n = hub.notifier(chat);
    const slow = await openSession(url);
    const fast = await openSession(url);
    await listen(url, slow.session(), "chat", "a");
    await listen(url, fast.session(), "chat", "a");
    slow.pause();
    const big = "x".repeat(10_000);
    let sent = 0;
    while (sent < 3_000 && hub.stats().streams === 2) {
      await n.notify("a", `${sent++}:${big}`);
      if (sent % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(hub.stats().streams, "the slow stream is cut").to.equal(1);
    expect(hub.stats().sessions).to.equal(2); // the session waits for its client to resume
    await until(() => fast.events.length === sent + 1, 5_000, "the fast client to get everything");
    expect(notifications(fast).map((e) => Number(String(e.data).split(":")[0]))).to.deep.equal(
      Array.from({ length: sent }, (_, i) => i),
    );
    const last = slow.events.at(-1)?.id ?? `${slow.session()}:0`;
    const again = await openRaw(`${url}/events`, { "last-event-id": last });
    await again.event(0);
    expect(again.status_()).to.equal("gap");
    expect(hub.stats().dropped).to.be.greaterThan(0);
  });

  it("replays a backlog larger than maxBufferedBytes as the socket drains, without cutting", async () => {
    const { url, hub } = await startServer({ maxBufferedBytes: 16 * 1024, retention: 1_000 });
    const n = hub.notifier(chat);
    const first = await openSession(url);
    await listen(url, first.session(), "chat", "a");
    first.close();
    await until(() => hub.stats().streams === 0);
    const text = "y".repeat(2_000);
    for (let i = 0; i < 500; i += 1) await n.notify("a", `${i}:${text}`);
    const again = await openRaw(`${url}/events`, { "last-event-id": `${first.session()}:0` });
    await again.event(500, 10_000);
    expect(again.status_()).to.equal("resumed");
    expect(notifications(again).map((e) => String(e.data).split(":")[0])).to.deep.equal(
      Array.from({ length: 500 }, (_, i) => String(i)),
    );
    expect(hub.stats().streams).to.equal(1);
  });
});
