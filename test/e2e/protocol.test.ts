import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { closeAll, listen, notifications, openRaw, startServer, until } from "../helpers.js";

const chat = defineNotifier<string, string>("chat");

/** The `retry:` a stream was sent: the hub's `retry` jittered by ±25% per stream (SPEC §6). */
function jitteredRetry(text: string, retry: number): number {
  const sent = Number(/^retry: (\d+)\n\n/.exec(text)?.[1]);
  expect(sent).to.be.within(Math.round(retry * 0.75), Math.round(retry * 1.25));
  return sent;
}

/** The epoch of the first `pos` in a stream (positions are `<epoch>-<offset>`, SPEC §6). */
function epochOf(text: string): string {
  const epoch = /"pos":"([0-9a-z]+)-\d+"/.exec(text)?.[1];
  expect(epoch, "a pos in the stream").to.be.a("string");
  return epoch as string;
}

describe("wire protocol", () => {
  afterEach(closeAll);

  it("opens a stream with SSE headers, retry, and the session event with id <session>:0", async () => {
    const { url } = await startServer({ retry: 1234 });
    const raw = await openRaw(`${url}/events`);
    await raw.event(0);
    const session = raw.session();
    expect(raw.status).to.equal(200);
    expect(raw.headers["content-type"]).to.match(/^text\/event-stream/);
    expect(raw.headers["cache-control"]).to.equal("no-cache, no-transform");
    expect(raw.headers["x-accel-buffering"]).to.equal("no");
    expect(session).to.match(/^[A-Za-z0-9_.-]+$/);
    expect(raw.text).to.equal(
      `retry: ${jitteredRetry(raw.text, 1234)}\n\nid: ${session}:0\nevent: session\ndata: {"session":"${session}","status":"new"}\n\n`,
    );
  });

  it("writes notifications as id <session>:<seq>, event <name>, data {key, data}, seq up by one", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const raw = await openRaw(`${url}/events`);
    await raw.event(0);
    const session = raw.session();
    expect((await listen(url, session, "chat", "a")).status).to.equal(204);
    await n.notify("a", "one");
    await n.notify("a", 'two\n"quoted"\r\nlines');
    await raw.event(2);
    const epoch = epochOf(raw.text);
    expect(raw.text.slice(raw.text.indexOf(`id: ${session}:1`))).to.equal(
      `id: ${session}:1\nevent: chat\ndata: {"key":"a","data":"one","pos":"${epoch}-1"}\n\n` +
        `id: ${session}:2\nevent: chat\ndata: {"key":"a","data":"two\\n\\"quoted\\"\\r\\nlines","pos":"${epoch}-2"}\n\n`,
    );
  });

  it("sends the key as notify received it, and matches keys by canonical JSON", async () => {
    const { url, hub } = await startServer();
    const doc = hub.notifier(defineNotifier<{ a: number; b: number }, number>("doc"));
    const raw = await openRaw(`${url}/events`);
    await raw.event(0);
    await listen(url, raw.session(), "doc", { b: 2, a: 1 });
    await doc.notify({ a: 1, b: 2 }, 7);
    await raw.event(1);
    expect(raw.events[1]?.data).to.equal(
      `{"key":{"a":1,"b":2},"data":7,"pos":"${epochOf(raw.text)}-1"}`,
    );
  });

  it("sends a comment every heartbeat", async () => {
    const { url } = await startServer({ heartbeat: 20 });
    const raw = await openRaw(`${url}/events`);
    await until(() => raw.comments >= 2, 2_000, "two heartbeats");
    expect(raw.text).to.contain(":\n\n");
  });

  describe("resume", () => {
    async function setup() {
      const server = await startServer({ retention: 3 });
      const n = server.hub.notifier(chat);
      const first = await openRaw(`${server.url}/events`);
      await first.event(0);
      const session = first.session();
      await listen(server.url, session, "chat", "a");
      return { ...server, n, first, session };
    }

    it("continues a session from Last-Event-ID: status resumed, then every later event in order", async () => {
      const { url, n, first, session } = await setup();
      await n.notify("a", "m1");
      await first.event(1);
      first.close();
      await until(() => true);
      await n.notify("a", "m2");
      await n.notify("a", "m3");
      const again = await openRaw(`${url}/events`, { "last-event-id": `${session}:1` });
      await again.event(2);
      const epoch = epochOf(again.text);
      expect(again.text).to.equal(
        `retry: ${jitteredRetry(again.text, 2000)}\n\nid: ${session}:1\nevent: session\ndata: {"session":"${session}","status":"resumed"}\n\n` +
          `id: ${session}:2\nevent: chat\ndata: {"key":"a","data":"m2","pos":"${epoch}-2"}\n\n` +
          `id: ${session}:3\nevent: chat\ndata: {"key":"a","data":"m3","pos":"${epoch}-3"}\n\n`,
      );
      await n.notify("a", "m4");
      expect((await again.event(3)).id).to.equal(`${session}:4`);
    });

    it("accepts ?lastEventId= as well", async () => {
      const { url, n, first, session } = await setup();
      await n.notify("a", "m1");
      await first.event(1);
      first.close();
      const again = await openRaw(
        `${url}/events?lastEventId=${encodeURIComponent(`${session}:0`)}`,
      );
      await again.event(1);
      expect(again.status_()).to.equal("resumed");
      expect(notifications(again)).to.deep.equal([{ key: "a", data: "m1" }]);
    });

    it("says gap when events were evicted, replays those kept, and ids the session event with the last evicted seq", async () => {
      const { url, n, first, session } = await setup();
      first.close();
      for (const text of ["m1", "m2", "m3", "m4", "m5"]) await n.notify("a", text);
      const again = await openRaw(`${url}/events`, { "last-event-id": `${session}:0` });
      await again.event(3);
      expect(again.events[0]?.id).to.equal(`${session}:2`);
      expect(again.status_()).to.equal("gap");
      expect(notifications(again).map((e) => e.data)).to.deep.equal(["m3", "m4", "m5"]);
      expect(again.events.slice(1).map((e) => e.id)).to.deep.equal(
        [3, 4, 5].map((s) => `${session}:${s}`),
      );
    });

    for (const [what, id] of [
      ["an unknown session", "nope.nope:0"],
      ["a malformed id", "garbage"],
      ["a seq the session never sent", "SESSION:99"],
    ] as const) {
      it(`starts a new session for ${what}, leaving the old one untouched`, async () => {
        const { url, hub, session, first } = await setup();
        const again = await openRaw(`${url}/events`, {
          "last-event-id": id.replace("SESSION", session),
        });
        await again.event(0);
        expect(again.status_()).to.equal("new");
        expect(again.session()).to.not.equal(session);
        expect(hub.stats().sessions).to.equal(2);
        expect(hub.stats().listens).to.equal(1);
        expect(first.text).to.not.contain("replaced");
      });
    }

    it("does not resume another identity's session", async () => {
      const server = await startServer();
      const mine = await openRaw(`${server.url}/events`, { "x-user": "ann" });
      await mine.event(0);
      const theirs = await openRaw(`${server.url}/events`, {
        "x-user": "bob",
        "last-event-id": `${mine.session()}:0`,
      });
      await theirs.event(0);
      expect(theirs.status_()).to.equal("new");
      expect(theirs.session()).to.not.equal(mine.session());
    });

    it("keeps one stream per session: a second one replaces the first", async () => {
      const { url, n, first, session, hub } = await setup();
      const second = await openRaw(`${url}/events`, { "last-event-id": `${session}:0` });
      await second.event(0);
      await first.ended();
      expect(hub.stats().streams).to.equal(1);
      await n.notify("a", "x");
      await second.event(1);
      expect(first.events).to.have.length(1);
    });
  });
});
