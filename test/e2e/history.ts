/**
 * Positions and `/listen` with `since` (SPEC §6) over the wire, as text, for
 * every bus with history: one node, and a session recovered on another node
 * after the one that held it is gone.
 */
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import type { Bus } from "../../server/bus.js";
import type { HubOptions } from "../../server/index.js";
import { closeAll, openSession, type RawStream, startServer, until } from "../helpers.js";

/** A session's stream, open (the suite's one helper, under this suite's name). */
export { openSession as stream } from "../helpers.js";

export const chat = defineNotifier<string, string>("chat");

/** POST /listen with raw JSON: status, content type and the exact body text. */
export async function rawListen(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/listen`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

/** A new stream, its session id known. */

/** Event blocks after the session event, as text (ids included). */
export function after0(raw: RawStream): string {
  return raw.text.slice(raw.text.indexOf("\n\n", raw.text.indexOf("event: session")) + 2);
}

/** The notification event text a session gets (what the wire must say exactly). */
export function event(session: string, seq: number, key: string, data: string, pos: string) {
  return `id: ${session}:${seq}\nevent: chat\ndata: {"key":${JSON.stringify(key)},"data":${JSON.stringify(data)},"pos":"${pos}"}\n\n`;
}

export function epochOf(pos: string): string {
  return pos.slice(0, pos.lastIndexOf("-"));
}

export function historySuite(
  name: string,
  makeBus: () => Bus,
  before?: (this: Mocha.Context) => Promise<void>,
) {
  describe(`history and since over the wire: ${name}`, function () {
    this.timeout(20_000);
    if (before) this.beforeAll(before);
    afterEach(closeAll);

    async function node(options: HubOptions<string | null> = {}) {
      const server = await startServer({ bus: makeBus(), ...options });
      return { ...server, n: server.hub.notifier(chat) };
    }

    it("answers since: null with the key's position, then numbers notifies from it", async () => {
      const { url, n } = await node();
      const raw = await openSession(url);
      const session = raw.session();
      const answer = await rawListen(url, { session, notifier: "chat", key: "a", since: null });
      expect(answer.status).to.equal(200);
      expect(answer.type).to.match(/^application\/json/);
      const match = /^\{"items":\[\{"pos":"([0-9a-z]+)-0","recovered":null\}\]\}$/.exec(
        answer.text,
      );
      expect(match, answer.text).to.not.equal(null);
      const epoch = match?.[1] as string;
      await n.notify("a", "one");
      await n.notify("a", "two");
      await raw.event(2);
      expect(after0(raw)).to.equal(
        event(session, 1, "a", "one", `${epoch}-1`) + event(session, 2, "a", "two", `${epoch}-2`),
      );
    });

    it("recovers on a new session every notification after since, exactly once and in order, then live ones", async () => {
      const { url, n } = await node();
      const first = await openSession(url);
      await rawListen(url, { session: first.session(), notifier: "chat", key: "a" });
      await n.notify("a", "m1");
      const pos1 = JSON.parse((await first.event(1)).data).pos as string;
      first.close();
      await n.notify("a", "m2");
      await n.notify("a", "m3");
      const second = await openSession(url);
      const session = second.session();
      const answer = await rawListen(url, {
        session,
        items: [{ notifier: "chat", key: "a", since: pos1 }],
      });
      const epoch = epochOf(pos1);
      expect(answer.status).to.equal(200);
      expect(answer.text).to.equal(`{"items":[{"pos":"${epoch}-3","recovered":true}]}`);
      await n.notify("a", "m4");
      await second.event(3);
      expect(after0(second)).to.equal(
        event(session, 1, "a", "m2", `${epoch}-2`) +
          event(session, 2, "a", "m3", `${epoch}-3`) +
          event(session, 3, "a", "m4", `${epoch}-4`),
      );
    });

    it("answers items in order: null without since in a batch, false for unknown, foreign, ahead or garbage positions, and replays none of those", async () => {
      const { url, n } = await node();
      const keys = ["plain", "unknown", "foreign", "ahead", "garbage", "same"];
      const first = await openSession(url);
      await rawListen(url, {
        session: first.session(),
        items: keys.map((key) => ({ notifier: "chat", key })),
      });
      for (const key of keys) await n.notify(key, `${key}1`);
      await until(() => first.events.length === 1 + keys.length, 3_000, "all six");
      const posOf = (key: string) =>
        first.events.map((e) => JSON.parse(e.data)).find((d) => d.key === key)?.pos as string;
      const second = await openSession(url);
      const session = second.session();
      const answer = await rawListen(url, {
        session,
        items: [
          { notifier: "chat", key: "plain" },
          { notifier: "chat", key: "unknown", since: "zzzzzzzz-0" },
          { notifier: "chat", key: "foreign", since: posOf("plain") }, // another key's epoch
          { notifier: "chat", key: "ahead", since: `${epochOf(posOf("ahead"))}-9` },
          { notifier: "chat", key: "garbage", since: "not a position" },
          { notifier: "chat", key: "same", since: posOf("same") },
        ],
      });
      expect(answer.status).to.equal(200);
      const items = (JSON.parse(answer.text) as { items: { pos: string; recovered: unknown }[] })
        .items;
      expect(items.map((item) => item.recovered)).to.deep.equal([
        null,
        false,
        false,
        false,
        false,
        true,
      ]);
      expect(items.map((item) => item.pos)).to.deep.equal(keys.map(posOf));
      await n.notify("same", "same2");
      await second.event(1);
      expect(JSON.parse(second.events[1]?.data ?? "{}").data).to.equal("same2");
      expect(second.events).to.have.length(2); // nothing older than the listen on the others
    });

    it("refuses an ill-typed since with 400 and applies nothing of the batch", async () => {
      const { url, hub } = await node();
      const raw = await openSession(url);
      for (const since of [1, true, {}, ["a-1"]]) {
        const answer = await rawListen(url, {
          session: raw.session(),
          items: [
            { notifier: "chat", key: "ok" },
            { notifier: "chat", key: "bad", since },
          ],
        });
        expect(answer.status).to.equal(400);
        expect(answer.text).to.equal(
          '{"error":{"code":"bad_request","message":"items[1].since must be null or a position (a string from \\"pos\\")"}}',
        );
      }
      expect(hub.stats().listens).to.equal(0);
    });

    it("answers 204 to a listen without since, as before", async () => {
      const { url } = await node();
      const raw = await openSession(url);
      const answer = await rawListen(url, { session: raw.session(), notifier: "chat", key: "a" });
      expect(answer.status).to.equal(204);
      expect(answer.text).to.equal("");
    });

    it("with history: false ignores since, answers 204 and sends no pos", async () => {
      const { url, n } = await node({ history: false });
      const raw = await openSession(url);
      const session = raw.session();
      const answer = await rawListen(url, { session, notifier: "chat", key: "a", since: "ab-1" });
      expect(answer.status).to.equal(204);
      await n.notify("a", "x");
      await raw.event(1);
      expect(after0(raw)).to.equal(
        `id: ${session}:1\nevent: chat\ndata: {"key":"a","data":"x"}\n\n`,
      );
    });

    it("says recovered: false for a key whose history was trimmed, and recovers the others", async () => {
      const { url, n } = await node({ history: { size: 2 } });
      const first = await openSession(url);
      await rawListen(url, {
        session: first.session(),
        items: [
          { notifier: "chat", key: "busy" },
          { notifier: "chat", key: "calm" },
        ],
      });
      await n.notify("busy", "b1");
      await n.notify("calm", "c1");
      await first.event(2);
      const [busy1, calm1] = [1, 2].map((i) => JSON.parse(first.events[i]?.data ?? "{}").pos);
      first.close();
      for (const text of ["b2", "b3", "b4"]) await n.notify("busy", text);
      await n.notify("calm", "c2");
      const second = await openSession(url);
      const answer = await rawListen(url, {
        session: second.session(),
        items: [
          { notifier: "chat", key: "busy", since: busy1 },
          { notifier: "chat", key: "calm", since: calm1 },
        ],
      });
      const epochs = [epochOf(busy1), epochOf(calm1)];
      expect(answer.text).to.equal(
        `{"items":[{"pos":"${epochs[0]}-4","recovered":false},{"pos":"${epochs[1]}-2","recovered":true}]}`,
      );
      await n.notify("busy", "b5");
      await second.event(2);
      expect(second.events.slice(1).map((e) => JSON.parse(e.data).data)).to.deep.equal([
        "c2",
        "b5",
      ]);
    });

    it("says recovered: false once a key's history expired (ttl)", async () => {
      const { url, n } = await node({ history: { ttl: 200 } });
      const first = await openSession(url);
      await rawListen(url, { session: first.session(), notifier: "chat", key: "a" });
      await n.notify("a", "old");
      const pos = JSON.parse((await first.event(1)).data).pos as string;
      first.close();
      await new Promise((resolve) => setTimeout(resolve, 400)); // the ttl itself is under test
      const second = await openSession(url);
      const answer = await rawListen(url, {
        session: second.session(),
        items: [{ notifier: "chat", key: "a", since: pos }],
      });
      const items = JSON.parse(answer.text).items as { pos: string; recovered: boolean }[];
      expect(items[0]?.recovered).to.equal(false);
      expect(epochOf(items[0]?.pos ?? "")).to.not.equal(epochOf(pos));
    });

    it("applies prepare and notfor to replayed notifications as if live", async () => {
      const server = await startServer({ bus: makeBus() });
      const n = server.hub.notifier(chat, {
        prepare: (identity, value) =>
          value === "secret" && identity !== "ann" ? undefined : `${value} for ${identity}`,
      });
      const { url } = server;
      const old = await openSession(url, { "x-user": "bob" });
      const bob = { "x-user": "bob" };
      await rawListen(url, { session: old.session(), notifier: "chat", key: "a" }, bob);
      await n.notify("a", "hello");
      const pos = JSON.parse((await old.event(1)).data).pos as string;
      old.close();
      await n.notify("a", "secret");
      await n.notify("a", "not for bob", { notfor: { identity: "bob" } });
      await n.notify("a", "after");
      const fresh = await openSession(url, { "x-user": "bob" });
      const answer = await rawListen(
        url,
        { session: fresh.session(), items: [{ notifier: "chat", key: "a", since: pos }] },
        bob,
      );
      expect(JSON.parse(answer.text).items[0].recovered).to.equal(true);
      await fresh.event(1);
      await n.notify("a", "live");
      await fresh.event(2);
      expect(fresh.events.slice(1).map((e) => JSON.parse(e.data).data)).to.deep.equal([
        "after for bob",
        "live for bob",
      ]);
    });

    it("merges live notifies made while the history is read: none lost, none twice, in order", async () => {
      const { url, n } = await node({ history: { size: 1_000 } });
      const first = await openSession(url);
      await rawListen(url, { session: first.session(), notifier: "chat", key: "a" });
      await n.notify("a", "0");
      const pos = JSON.parse((await first.event(1)).data).pos as string;
      first.close();
      for (let i = 1; i <= 50; i += 1) await n.notify("a", String(i));
      const second = await openSession(url);
      let i = 51;
      let stop = false;
      const pump = (async () => {
        while (!stop && i <= 400) await n.notify("a", String(i++));
      })();
      const answer = await rawListen(url, {
        session: second.session(),
        items: [{ notifier: "chat", key: "a", since: pos }],
      });
      stop = true;
      await pump;
      expect(JSON.parse(answer.text).items[0].recovered).to.equal(true);
      const last = i - 1;
      await until(() => second.events.length === 1 + last, 5_000, `${last} notifications`);
      const got = second.events
        .slice(1)
        .map((e) => JSON.parse(e.data) as { data: string; pos: string });
      expect(got.map((e) => Number(e.data))).to.deep.equal(
        Array.from({ length: last }, (_, k) => k + 1),
      );
      expect(got.map((e) => e.pos)).to.deep.equal(
        Array.from({ length: last }, (_, k) => `${epochOf(pos)}-${k + 2}`),
      );
    });
  });
}
