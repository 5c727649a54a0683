import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { Registry } from "prom-client";
import { type Demo, startDemo } from "../../demo/server.js";
import { defineNotifier } from "../../protocol/contract.js";
import { collectMetrics } from "../../server/metrics.js";
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
const doc = defineNotifier<number, { v: number }>("doc");

/** The samples of a Prometheus text scrape: `name{labels}` → value. */
function parseScrape(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

async function scrape(register: Registry): Promise<Map<string, number>> {
  return parseScrape(await register.metrics());
}

describe("metrics (sse-notif/metrics)", () => {
  afterEach(closeAll);

  it("shows sessions, streams, keys, listens and events sent after known traffic", async () => {
    const register = new Registry();
    const { url, hub } = await startServer();
    collectMetrics(hub, { register });
    const n = hub.notifier(chat);
    const [a, b] = [await openSession(url), await openSession(url)];
    await listen(url, a.session(), "chat", "x");
    await listen(url, b.session(), "chat", "x");
    await listen(url, b.session(), "chat", "y");
    for (const value of ["1", "2", "3"]) await n.notify("x", value);
    await n.notify("y", "4");
    await b.event(4);
    await a.event(3);
    const m = await scrape(register);
    expect(m.get("sse_notif_sessions")).to.equal(2);
    expect(m.get("sse_notif_streams")).to.equal(2);
    expect(m.get("sse_notif_keys")).to.equal(2);
    expect(m.get("sse_notif_listens")).to.equal(3);
    expect(m.get("sse_notif_bus_up")).to.equal(1);
    expect(m.get("sse_notif_events_sent_total")).to.equal(7);
    expect(m.get("sse_notif_events_dropped_total")).to.equal(0);
    expect(m.get('sse_notif_notifies_total{notifier="chat"}')).to.equal(4);
    expect(m.get('sse_notif_prepare_errors_total{notifier="chat"}')).to.equal(0);
    expect(m.get('sse_notif_notify_duration_seconds_count{notifier="chat"}')).to.equal(4);
    expect(m.get('sse_notif_notify_duration_seconds_bucket{le="+Inf",notifier="chat"}')).to.equal(
      4,
    );
    expect(m.get('sse_notif_notify_duration_seconds_sum{notifier="chat"}')).to.be.greaterThan(0);
    a.close();
    await until(() => hub.stats().streams === 1, 3_000, "the closed stream to end");
    const after = await scrape(register);
    expect(after.get("sse_notif_streams"), "read live at each scrape").to.equal(1);
    expect(after.get('sse_notif_streams_cut_total{reason="client"}')).to.equal(1);
  });

  it("counts a slow stream cut, the events it dropped, and a stream replaced", async () => {
    const register = new Registry();
    const { url, hub } = await startServer({ maxBufferedBytes: 64 * 1024, retention: 50 });
    collectMetrics(hub, { register, prefix: "app_notif_" });
    const n = hub.notifier(chat);
    const slow = await openSession(url);
    await listen(url, slow.session(), "chat", "a");
    slow.pause();
    const big = "x".repeat(10_000);
    let sent = 0;
    while (sent < 3_000 && hub.stats().streams === 1) {
      await n.notify("a", `${sent++}:${big}`);
      if (sent % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(hub.stats().streams, "the slow stream is cut").to.equal(0);
    const cut = await scrape(register);
    expect(cut.get('app_notif_streams_cut_total{reason="slow"}')).to.equal(1);
    expect(cut.get('app_notif_streams_cut_total{reason="client"}')).to.equal(0);
    expect(cut.get('app_notif_notifies_total{notifier="chat"}')).to.equal(sent);
    const last = slow.events.at(-1)?.id ?? `${slow.session()}:0`;
    const again = await openRaw(`${url}/events`, { "last-event-id": last });
    await again.event(0);
    expect(again.status_()).to.equal("gap");
    const third = await openRaw(`${url}/events`, { "last-event-id": `${slow.session()}:${sent}` });
    await third.event(0);
    await again.ended();
    const m = await scrape(register);
    expect(m.get("app_notif_events_dropped_total")).to.equal(hub.stats().dropped);
    expect(m.get("app_notif_events_dropped_total")).to.be.greaterThan(0);
    expect(m.get("app_notif_events_sent_total")).to.equal(hub.stats().sent);
    expect(m.get('app_notif_streams_cut_total{reason="replaced"}')).to.equal(1);
    expect(m.get("sse_notif_sessions"), "nothing under the default prefix").to.equal(undefined);
  });

  it("counts prepare errors per notifier, and the other listeners still get theirs", async () => {
    const register = new Registry();
    const { url, hub } = await startServer();
    collectMetrics(hub, { register });
    const n = hub.notifier(doc, {
      prepare: (user, value: { v: number }) => {
        if (user === "mallory") throw new Error("no docs for mallory");
        return value;
      },
    });
    hub.notifier(chat);
    const ann = await openSession(url, "ann");
    const mallory = await openSession(url, "mallory");
    await listen(url, ann.session(), "doc", 1, { "x-user": "ann" });
    await listen(url, mallory.session(), "doc", 1, { "x-user": "mallory" });
    await n.notify(1, { v: 1 });
    await n.notify(1, { v: 2 });
    await ann.event(2);
    expect(notifications(ann).map((e) => e.data)).to.deep.equal([{ v: 1 }, { v: 2 }]);
    const m = await scrape(register);
    expect(m.get('sse_notif_prepare_errors_total{notifier="doc"}')).to.equal(2);
    expect(m.get('sse_notif_prepare_errors_total{notifier="chat"}')).to.equal(0);
    expect(m.get('sse_notif_notifies_total{notifier="doc"}')).to.equal(2);
    expect(m.get("sse_notif_events_sent_total")).to.equal(2);
  });

  it("counts listens with a position: recovered from history, and lost", async () => {
    const register = new Registry();
    const { url, hub } = await startServer();
    collectMetrics(hub, { register });
    const n = hub.notifier(chat);
    const since = async (session: string, position: string | null) => {
      const res = await post(`${url}/listen`, {
        session,
        items: [{ notifier: "chat", key: "k", since: position }],
      });
      expect(res.status).to.equal(200);
      const [item] = (res.body as { items: { pos: string; recovered: boolean | null }[] }).items;
      if (!item) throw new Error("no item in the answer");
      return item;
    };
    const first = await openSession(url);
    const start = await since(first.session(), null);
    expect(start.recovered).to.equal(null);
    await n.notify("k", "one");
    await n.notify("k", "two");
    const later = await openSession(url);
    expect((await since(later.session(), start.pos)).recovered).to.equal(true);
    await later.event(2);
    expect(notifications(later).map((e) => e.data)).to.deep.equal(["one", "two"]);
    const lost = await openSession(url);
    expect((await since(lost.session(), "no position of this key")).recovered).to.equal(false);
    const m = await scrape(register);
    expect(m.get('sse_notif_recoveries_total{result="recovered"}')).to.equal(1);
    expect(m.get('sse_notif_recoveries_total{result="lost"}')).to.equal(1);
  });

  it("has labels bounded by notifiers and fixed words, whatever the keys, sessions and identities", async () => {
    const register = new Registry();
    const { url, hub } = await startServer();
    collectMetrics(hub, { register });
    const n = hub.notifier(chat);
    const series = async () => [...(await scrape(register)).keys()].sort();
    const streams = [await openSession(url, "user-0")];
    await listen(url, streams[0]?.session() ?? "", "chat", "key-0", { "x-user": "user-0" });
    await n.notify("key-0", "v");
    const few = await series();
    for (let i = 1; i < 30; i++) {
      const raw = await openSession(url, `user-${i}`);
      streams.push(raw);
      await listen(url, raw.session(), "chat", `key-${i}`, { "x-user": `user-${i}` });
      await n.notify(`key-${i}`, "v");
    }
    const text = await register.metrics();
    expect(await series(), "the same series for 1 and 30 keys and identities").to.deep.equal(few);
    expect(text).not.to.match(/key-\d|user-\d/);
    for (const raw of streams) expect(text).not.to.contain(raw.session());
    const labels = new Set([...text.matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => `${k}=${v}`));
    expect([...labels].filter((l) => !l.startsWith("le=")).sort()).to.deep.equal([
      "notifier=chat",
      "reason=client",
      "reason=closing",
      "reason=evicted",
      "reason=failed",
      "reason=replaced",
      "reason=slow",
      "result=lost",
      "result=recovered",
    ]);
  });

  it("refuses a second registration under one prefix, and anything but a hub", async () => {
    const register = new Registry();
    const { hub } = await startServer();
    collectMetrics(hub, { register });
    expect(() => collectMetrics(hub, { register })).to.throw(/already registered.*own prefix/);
    collectMetrics(hub, { register, prefix: "second_" });
    expect((await scrape(register)).get("second_sessions")).to.equal(0);
    expect(() => collectMetrics({} as typeof hub, { register: new Registry() })).to.throw(
      TypeError,
      /a hub made by createHub/,
    );
  });
});

describe("the demo's /metrics", () => {
  let demo: Demo | undefined;
  afterEach(async () => {
    await closeAll();
    await demo?.close();
  });

  it("serves a Prometheus scrape of its hub after a message was posted", async () => {
    demo = await startDemo({ port: 0, dist: fileURLToPath(new URL(".", import.meta.url)) });
    const login = await fetch(`${demo.url}/api/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "ann" }),
    });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const raw = await openRaw(`${demo.url}/notif/events`, { cookie });
    await raw.event(0);
    await listen(`${demo.url}/notif`, raw.session(), "room", { room: "general" }, { cookie });
    const posted = await fetch(`${demo.url}/api/rooms/general/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie },
      body: JSON.stringify({ text: "hello" }),
    });
    expect(posted.status).to.equal(201);
    await raw.event(1);
    const res = await fetch(`${demo.url}/metrics`);
    expect(res.headers.get("content-type")).to.match(/^text\/plain; version=0\.0\.4/);
    const m = parseScrape(await res.text());
    expect(m.get("sse_notif_streams")).to.equal(1);
    expect(m.get("sse_notif_listens")).to.equal(1);
    expect(m.get('sse_notif_notifies_total{notifier="room"}')).to.equal(1);
    expect(m.get("sse_notif_events_sent_total")).to.equal(1);
  });
});
