/**
 * The pure pieces of tab sharing (SPEC §7): cross-tab reference counts, the
 * event cursor that takes each event once, the holder's recent events, the
 * messages' type guard, a tab's own listens and positions, the positions a
 * new holder recovers from, and what the server may hold.
 */
import { expect } from "chai";
import { EventCursor, earlierId, laterId } from "../../client/cursor.js";
import { RequestError } from "../../client/listens.js";
import { RecentEvents } from "../../client/recent.js";
import { parseNotification, Routes } from "../../client/routes.js";
import { HeldTopics } from "../../client/tabheld.js";
import { TabListens, type TabSend } from "../../client/tablistens.js";
import { TabPositions } from "../../client/tabpositions.js";
import { TabRefs } from "../../client/tabrefs.js";
import { replayForTab } from "../../client/tabreplay.js";
import { parseTabMessage, tabNames } from "../../client/tabs.js";
import { TabSince } from "../../client/tabsince.js";
import { TabReport } from "../../client/tabstatus.js";
import { defineNotifier } from "../../protocol/contract.js";
import { type Topic, topicOf } from "../../protocol/keys.js";
import type { TabId } from "../../protocol/wire.js";

describe("tab sharing: pure pieces", () => {
  describe("TabRefs", () => {
    it("counts a topic across tabs: wanted until the last tab lets go", () => {
      const refs = new TabRefs<number>();
      expect(refs.add("t1", topicOf("chat", "a"), 1)).to.equal(true);
      expect(refs.add("t2", topicOf("chat", "a"), 2)).to.equal(true);
      expect(refs.add("t1", topicOf("chat", "a"), 3)).to.equal(false, "a tab holds a topic once");
      expect([...refs.tabsOf(topicOf("chat", "a"))]).to.deep.equal(["t1", "t2"]);
      expect(refs.remove("t1", topicOf("chat", "a"))).to.equal(1);
      expect(refs.wanted(topicOf("chat", "a"))).to.equal(true);
      expect(refs.remove("t1", topicOf("chat", "a"))).to.equal(undefined, "removed already");
      expect(refs.remove("t2", topicOf("chat", "a"))).to.equal(2);
      expect(refs.wanted(topicOf("chat", "a"))).to.equal(false);
      expect([...refs.tabsOf(topicOf("chat", "a"))]).to.deep.equal([]);
    });

    it("knows tabs without listens, and forgets a tab that leaves with all it had", () => {
      const refs = new TabRefs<string>();
      refs.join("t1");
      refs.add("t2", topicOf("chat", "a"), "x");
      refs.add("t2", topicOf("chat", "b"), "y");
      refs.add("t3", topicOf("chat", "b"), "z");
      expect(refs.tabs).to.equal(3);
      expect(refs.leave("t2")).to.deep.equal([
        ["chat:a", "x"],
        ["chat:b", "y"],
      ]);
      expect(refs.tabs).to.equal(2);
      expect(refs.has("t2")).to.equal(false);
      expect(refs.wanted(topicOf("chat", "a"))).to.equal(false);
      expect([...refs.tabsOf(topicOf("chat", "b"))]).to.deep.equal(["t3"]);
      expect(refs.leave("nobody")).to.deep.equal([]);
    });

    it("diffs a tab's whole state against what it holds", () => {
      const refs = new TabRefs<number>();
      refs.add("t1", topicOf("chat", "a"), 1);
      refs.add("t1", topicOf("chat", "b"), 2);
      expect(refs.diff("t1", [topicOf("chat", "b"), topicOf("chat", "c")])).to.deep.equal({
        add: ["chat:c"],
        remove: [["chat:a", 1]],
      });
      expect(refs.diff("new", [topicOf("chat", "a")])).to.deep.equal({
        add: ["chat:a"],
        remove: [],
      });
    });
  });

  describe("Routes", () => {
    it("sends an event to the tabs listening on its key, by canonical JSON", () => {
      const routes = new Routes<number>();
      const def = routes.def("doc", topicOf("doc", '{"a":1,"b":2}'), { b: 2, a: 1 });
      expect(def.keyId({ b: 2, a: 1 })).to.equal('{"a":1,"b":2}');
      expect(routes.def("doc", topicOf("doc", "3"), 3)).to.equal(
        def,
        "one definition per notifier",
      );
      routes.refs.add("t1", topicOf("doc", '{"a":1,"b":2}'), 1);
      routes.refs.add("t2", topicOf("doc", "3"), 2);
      expect([...routes.targets("doc", { a: 1, b: 2 })]).to.deep.equal(["t1"]);
      expect([...routes.targets("doc", 4)]).to.deep.equal([]);
      const listens = [
        { topic: topicOf("doc", "3"), item: { notifier: "doc", key: 3 }, confirmed: true },
      ];
      expect(routes.among(listens, "doc", 3)).to.equal(true);
      expect(routes.among([{ ...listens[0]!, confirmed: false }], "doc", 3)).to.equal(false);
    });

    it("with a custom keyId, to every tab listening on the notifier", () => {
      const routes = new Routes<number>();
      const def = routes.def("user", topicOf("user", "42"), { id: 42, name: "ann" });
      expect(def.keyId({ id: 42, name: "ann" })).to.equal("42");
      routes.refs.add("t1", topicOf("user", "42"), 1);
      routes.refs.add("t2", topicOf("user", "7"), 2);
      routes.refs.add("t3", topicOf("doc", "1"), 3);
      expect([...routes.targets("user", { id: 42, name: "Ann" })]).to.deep.equal(["t1", "t2"]);
      const listens = [
        { topic: topicOf("user", "7"), item: { notifier: "user", key: 7 }, confirmed: true },
      ];
      expect(routes.among(listens, "user", { id: 42 })).to.equal(true);
    });

    it("parses a notification's data, or refuses it", () => {
      expect(parseNotification('{"key":1,"data":2,"notfor":"t"}')).to.deep.equal({
        key: 1,
        data: 2,
        notfor: "t",
      });
      for (const text of ["{", "[1]", '"x"', '{"data":1}', 7])
        expect(parseNotification(text)).to.equal(undefined);
    });
  });

  describe("EventCursor", () => {
    it("takes each event of a session once, in order", () => {
      const cursor = new EventCursor();
      expect(cursor.last).to.equal(undefined);
      expect(
        ["s:1", "s:2", "s:2", "s:1", "s:5", "s:3"].map((id) => cursor.accept(id)),
      ).to.deep.equal([true, true, false, false, true, false]);
      expect(cursor.last).to.equal("s:5");
    });

    it("starts over with another session, and refuses malformed ids", () => {
      const cursor = new EventCursor();
      cursor.accept("s:9");
      expect(cursor.accept("t:1")).to.equal(true);
      expect(cursor.last).to.equal("t:1");
      expect(cursor.accept("garbage")).to.equal(false);
      expect(cursor.accept("t:-1")).to.equal(false);
      expect(cursor.last).to.equal("t:1");
    });

    it("laterId: the higher seq of one session, the preferred one across sessions", () => {
      expect(laterId("s:3", "s:7")).to.equal("s:7");
      expect(laterId("s:7", "s:3")).to.equal("s:7");
      expect(laterId("s:3", "t:9")).to.equal("s:3");
      expect(laterId(undefined, "t:9")).to.equal("t:9");
      expect(laterId("bad", undefined)).to.equal(undefined);
      expect(laterId(undefined, undefined)).to.equal(undefined);
    });

    it("earlierId: the lower seq of the current session, other sessions ignored", () => {
      expect(earlierId("s:7", "s:3")).to.equal("s:3");
      expect(earlierId("s:3", "s:7")).to.equal("s:3");
      expect(earlierId("s:7", "t:1")).to.equal("s:7");
      expect(earlierId("s:7", undefined)).to.equal("s:7");
      expect(earlierId(undefined, "s:1")).to.equal(undefined);
    });
  });

  describe("RecentEvents", () => {
    it("gives the events after an id of the stream it holds", () => {
      const recent = new RecentEvents();
      recent.start("s:4"); // resumed after seq 4
      for (const seq of [5, 6, 7]) recent.add(`s:${seq}`, "chat", `e${seq}`);
      expect(recent.after("s:5")?.map((e) => e.text)).to.deep.equal(["e6", "e7"]);
      expect(recent.after("s:4")?.map((e) => e.text)).to.deep.equal(["e5", "e6", "e7"]);
      expect(recent.after("s:7")).to.deep.equal([]);
    });

    it("says whether a stream started", () => {
      const recent = new RecentEvents();
      expect(recent.started).to.equal(false);
      recent.start("s:0");
      expect(recent.started).to.equal(true);
    });

    it("cannot answer for events before its stream, of another session, or evicted", () => {
      const recent = new RecentEvents(2);
      recent.start("s:4");
      expect(recent.after("s:3")).to.equal(undefined, "before the stream resumed");
      expect(recent.after("t:9")).to.equal(undefined, "another session");
      for (const seq of [5, 6, 7]) recent.add(`s:${seq}`, "chat", `e${seq}`);
      expect(recent.after("s:4")).to.equal(undefined, "e5 was evicted");
      expect(recent.after("s:5")?.map((e) => e.text)).to.deep.equal(["e6", "e7"]);
      recent.start("t:0"); // a new session
      expect(recent.after("s:6")).to.equal(undefined);
      recent.add("t:1", "chat", "n1");
      expect(recent.after("t:0")?.map((e) => e.text)).to.deep.equal(["n1"]);
    });

    it("keeps what it holds when the stream resumes within it", () => {
      const recent = new RecentEvents();
      recent.start("s:0");
      for (const seq of [1, 2, 3]) recent.add(`s:${seq}`, "chat", `e${seq}`);
      recent.start("s:3");
      recent.add("s:4", "chat", "e4");
      expect(recent.after("s:1")?.map((e) => e.text)).to.deep.equal(["e2", "e3", "e4"]);
    });
  });

  describe("parseTabMessage", () => {
    const ok = [
      { type: "lead", term: 1, tab: "abc" },
      { type: "beat", term: 2, tab: "abc", last: "s:3", tabs: 2 },
      { type: "beat", term: 2, tab: "abc", last: undefined, tabs: 1 },
      { type: "resign", term: 2, tab: "abc", last: undefined },
      { type: "status", term: 2, tab: "abc", status: { state: "open", session: "s" }, tabs: 3 },
      {
        type: "join",
        from: "t",
        listens: [{ topic: "chat:1", item: { notifier: "chat", key: 1 } }],
        after: "s:1",
      },
      { type: "listen", from: "t", topic: "chat:1", item: { notifier: "chat", key: 1 } },
      { type: "unlisten", from: "t", topic: "chat:1", item: { notifier: "chat", key: 1 }, req: 4 },
      { type: "leave", from: "t" },
      { type: "ping", from: "t" },
      { type: "event", term: 1, name: "chat", id: "s:1", text: "{}" },
      { type: "skip", term: 1, id: "s:1" },
      { type: "listened", term: 1, topic: "chat:1", error: undefined },
      {
        type: "listened",
        term: 1,
        topic: "chat:1",
        error: { status: 403, code: "forbidden", message: "no" },
      },
      { type: "unlistened", term: 1, req: 4 },
      { type: "listened", term: 1, topic: "chat:1", error: undefined, at: "s:2", pos: "e-4" },
      {
        type: "join",
        from: "t",
        listens: [{ topic: "chat:1", item: { notifier: "chat", key: 1 }, pos: "e-4", at: "s:3" }],
        after: "s:3",
      },
      {
        type: "held",
        term: 2,
        tab: "abc",
        add: [{ topic: "chat:1", item: { notifier: "chat", key: 1 } }],
        remove: ["chat:2"],
        all: false,
      },
      { type: "replaying", term: 3, topics: ["chat:1"] },
      {
        type: "replayed",
        term: 3,
        items: [{ topic: "chat:1", recovered: true, pos: "e-9" }],
        lost: [{ notifier: "chat", key: 2 }],
      },
    ];
    it("takes every well-formed message", () => {
      for (const message of ok) expect(parseTabMessage(message), message.type).to.equal(message);
    });

    it("refuses anything else", () => {
      const bad: unknown[] = [
        null,
        "lead",
        [],
        { type: "nope" },
        { type: "toString" },
        { type: "lead", term: -1, tab: "abc" },
        { type: "lead", term: 1, tab: "a b" },
        { type: "beat", term: 1, tab: "abc", last: 3, tabs: 1 },
        { type: "status", term: 1, tab: "abc", status: { state: "weird" }, tabs: 1 },
        { type: "join", from: "t", listens: [{ topic: 1 }], after: undefined },
        { type: "listen", from: "t", topic: "chat:1", item: { notifier: "chat" } },
        { type: "unlisten", from: "t", topic: "chat:1", item: { notifier: "chat", key: 1 } },
        { type: "event", term: 1, name: "chat", id: "s:1", text: {} },
        { type: "listened", term: 1, topic: "chat:1", error: { code: "x" } },
        { type: "listened", term: 1, topic: "chat:1", error: undefined, pos: 4 },
        { type: "held", term: 1, tab: "abc", add: [], remove: [1], all: false },
        { type: "held", term: 1, tab: "abc", add: [{ topic: 1 }], remove: [], all: true },
        { type: "held", term: 1, tab: "abc", add: [], remove: [] },
        { type: "replaying", term: 1, topics: [1] },
        { type: "replayed", term: 1, items: [{ topic: "chat:1", recovered: 1 }], lost: [] },
        { type: "replayed", term: 1, items: [], lost: [{ key: 1 }] },
        {
          type: "join",
          from: "t",
          listens: [{ topic: "chat:1", item: { notifier: "chat", key: 1 }, pos: 4 }],
          after: undefined,
        },
      ];
      for (const message of bad)
        expect(parseTabMessage(message), JSON.stringify(message)).to.equal(undefined);
    });

    it("names channels and locks after the origin and the url", () => {
      const a = tabNames("http://x", "http://x/notif");
      const b = tabNames("http://x", "http://x/other");
      expect(a.channel).to.not.equal(b.channel);
      expect(a.lock).to.not.equal(b.lock);
      expect(a.tabChannel("t1")).to.not.equal(a.tabChannel("t2"));
      expect(a.presence("t1")).to.not.equal(a.lock);
      expect(a.presenceOf(a.presence("t1"))).to.equal("t1");
      expect(a.presenceOf(a.lock)).to.equal(undefined);
      expect(a.presenceOf(b.presence("t1"))).to.equal(undefined, "another url's tab");
    });
  });

  describe("TabListens", () => {
    const chat = defineNotifier<string, string>("chat");
    function recording(holder = true) {
      const sent: Parameters<TabSend>[0][] = [];
      const listens = new TabListens((request) => {
        sent.push(request);
        return holder;
      });
      return { sent, listens };
    }

    it("asks the holder on the first listen and the last unlisten only", async () => {
      const { sent, listens } = recording();
      const first = listens.listen(chat, "a");
      const second = listens.listen(chat, "a");
      expect(sent.map((s) => s.type)).to.deep.equal(["listen"]);
      listens.listened(topicOf("chat", '"a"'), undefined);
      await Promise.all([first, second]);
      await listens.listen(chat, "a"); // confirmed: at once
      await listens.unlisten(chat, "a");
      await listens.unlisten(chat, "a");
      expect(sent.map((s) => s.type)).to.deep.equal(["listen"]);
      const last = listens.unlisten(chat, "a");
      const unlisten = sent[1] as { type: "unlisten"; req: number };
      expect(unlisten.type).to.equal("unlisten");
      let settled = false;
      void last.then(() => {
        settled = true;
      });
      await Promise.resolve();
      expect(settled).to.equal(false, "until the holder answers");
      listens.unlistened(unlisten.req);
      await last;
      expect(listens.wants(topicOf("chat", '"a"'))).to.equal(false);
    });

    it("rejects with the server's error, as a RequestError", async () => {
      const { listens } = recording();
      const pending = listens.listen(chat, "a");
      listens.listened(topicOf("chat", '"a"'), {
        status: 429,
        code: "too_many_keys",
        message: "over",
      });
      const error = await pending.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error)
        .to.be.instanceOf(RequestError)
        .and.include({ status: 429, code: "too_many_keys" });
      expect(listens.wants(topicOf("chat", '"a"'))).to.equal(false);
    });

    it("without a holder, keeps listens for the next join and settles unlistens at once", async () => {
      const { listens } = recording(false);
      void listens.listen(chat, "a");
      void listens.listen(chat, "b");
      await listens.unlisten(chat, "b");
      expect(listens.all()).to.deep.equal([
        { topic: 'chat:"a"', item: { notifier: "chat", key: "a" }, confirmed: false },
      ]);
    });

    it("sends an unlisten its holder did not answer to the next, settled by its answer", async () => {
      const { sent, listens } = recording();
      void listens.listen(chat, "a");
      void listens.listen(chat, "b");
      listens.listened(topicOf("chat", '"a"'), undefined);
      listens.listened(topicOf("chat", '"b"'), undefined);
      let settled = false;
      const gone = listens.unlisten(chat, "a").then(() => {
        settled = true;
      });
      const again = listens.unlisten(chat, "b");
      const [first, second] = sent.slice(2) as { type: "unlisten"; req: number }[];
      void listens.listen(chat, "b"); // listened again: its unlisten is cancelled
      sent.length = 0;
      listens.newHolder();
      await again;
      expect(sent.map((s) => [s.type, s.topic])).to.deep.equal(
        [["unlisten", 'chat:"a"']],
        "a again; b is listened to again",
      );
      expect((sent[0] as { req: number }).req).to.equal(first?.req);
      await Promise.resolve();
      expect(settled).to.equal(false, "until the new holder answers");
      listens.unlistened(second?.req as number); // an old answer of another unlisten: no matter
      listens.unlistened(first?.req as number);
      await gone;
    });

    it("settles unlistens when it closes, and rejects listens on close", async () => {
      const { listens } = recording();
      void listens.listen(chat, "a");
      listens.listened(topicOf("chat", '"a"'), undefined);
      const gone = listens.unlisten(chat, "a");
      const pending = listens.listen(chat, "b");
      listens.close();
      expect(
        await pending.then(
          () => "resolved",
          (e: Error) => e.message,
        ),
      ).to.match(/closed/);
      await gone;
      expect(await listens.listen(chat, "c").catch((e: Error) => e.message)).to.match(/closed/);
    });
  });

  describe("TabReport", () => {
    const chat = defineNotifier<string, string>("chat");
    function report() {
      const listens = new TabListens(() => true);
      void listens.listen(chat, "mine");
      const tab = new TabReport(listens);
      const seen: { gap: boolean; lost: readonly unknown[] }[] = [];
      tab.onStatus((status) => seen.push({ gap: status.gap, lost: status.lost }));
      return { tab, seen };
    }
    const open = { state: "open" as const, session: "s", resumed: false, recovered: false };

    it("names only this tab's keys in a gap, and is no gap for other tabs' keys only", () => {
      const { tab, seen } = report();
      tab.holder({ ...open, gap: true, lost: [{ notifier: "chat", key: "other" }] });
      tab.holder({ ...open, session: "t", gap: true, lost: [{ notifier: "chat", key: "mine" }] });
      tab.holder({ ...open, session: "u", gap: true, lost: [] });
      expect(seen).to.deep.equal([
        { gap: false, lost: [] },
        { gap: true, lost: [{ notifier: "chat", key: "mine" }] },
        { gap: true, lost: [{ notifier: "chat", key: "mine" }] },
      ]);
    });

    it("reports a gap the holder told this tab of, now or on the next open status", () => {
      const { tab, seen } = report();
      tab.gap(); // connecting: kept for the next open status
      expect(seen).to.deep.equal([]);
      tab.holder({ ...open, gap: false, lost: [] });
      tab.holder({ ...open, session: "t", gap: false, lost: [] });
      tab.gap();
      expect(seen.map((s) => s.gap)).to.deep.equal([true, false, true]);
    });

    it("a new session whose gap names only other tabs' keys recovered every key of this tab", () => {
      const { tab } = report();
      const seen: { recovered: boolean; gap: boolean }[] = [];
      tab.onStatus((s) => seen.push({ recovered: s.recovered, gap: s.gap }));
      tab.holder({ ...open, gap: false, lost: [] });
      tab.holder({ ...open, session: "t", gap: true, lost: [{ notifier: "chat", key: "other" }] });
      expect(seen).to.deep.equal([
        { recovered: false, gap: false },
        { recovered: true, gap: false },
      ]);
    });

    it("a gap the holder told of while connecting names the keys it was told of", () => {
      const listens = new TabListens(() => true);
      void listens.listen(chat, "mine");
      void listens.listen(chat, "kept");
      const tab = new TabReport(listens);
      const seen: { gap: boolean; lost: readonly unknown[] }[] = [];
      tab.onStatus((status) => seen.push({ gap: status.gap, lost: status.lost }));
      tab.gap([{ notifier: "chat", key: "other" }]); // none of this tab's: nothing
      tab.gap([{ notifier: "chat", key: "mine" }]);
      tab.holder({ ...open, gap: false, lost: [] });
      expect(seen).to.deep.equal([{ gap: true, lost: [{ notifier: "chat", key: "mine" }] }]);
    });

    it("tells how many tabs share, only when it changes", () => {
      const { tab } = report();
      const infos: unknown[] = [];
      tab.onShare((info) => infos.push(info));
      tab.share({ tabs: 1 });
      tab.share({ tabs: 3, leader: true });
      expect(infos).to.deep.equal([
        { shared: true, leader: false, tabs: 1 },
        { shared: true, leader: true, tabs: 3 },
      ]);
    });
  });
  describe("TabPositions", () => {
    /** Takes a notification; true when it was handed to the tab now. */
    const took = (positions: TabPositions, topic: Topic, pos: unknown, id: string) => {
      let delivered = false;
      positions.take(topic, pos, id, () => {
        delivered = true;
      });
      return delivered;
    };

    it("keeps the last position of each key, with the event that brought it", () => {
      const positions = new TabPositions();
      expect(took(positions, topicOf("chat", "a"), "e-1", "s:1")).to.equal(true);
      expect(took(positions, topicOf("chat", "a"), "e-2", "s:2")).to.equal(true);
      expect(took(positions, topicOf("chat", "a"), undefined, "s:3")).to.equal(
        true,
        "history: false",
      );
      expect(positions.place(topicOf("chat", "a"))).to.deep.equal({ pos: "e-2", at: "s:2" });
      positions.forget(topicOf("chat", "a"));
      expect(positions.place(topicOf("chat", "a"))).to.equal(undefined);
    });

    it("refuses a notification taken already (replayed by a recovery)", () => {
      const positions = new TabPositions();
      took(positions, topicOf("chat", "a"), "e-1", "s:1");
      took(positions, topicOf("chat", "a"), "e-2", "s:2");
      expect(took(positions, topicOf("chat", "a"), "e-2", "t:1")).to.equal(
        false,
        "the same position again",
      );
      expect(took(positions, topicOf("chat", "b"), "e-2", "t:2")).to.equal(true, "another key");
      expect(took(positions, topicOf("chat", "a"), "e-3", "t:3")).to.equal(true);
      expect(took(positions, topicOf("chat", "a"), "f-1", "t:4")).to.equal(true, "another epoch");
    });

    it("refuses a repeat however many notifications came since (no window)", () => {
      const positions = new TabPositions();
      for (let i = 1; i <= 5; i += 1) took(positions, topicOf("chat", "a"), `e-${i}`, `s:${i}`);
      for (let i = 1; i <= 1_100; i += 1)
        took(positions, topicOf("chat", "b"), `e-${i}`, `s:${5 + i}`);
      for (let i = 1; i <= 5; i += 1)
        expect(took(positions, topicOf("chat", "a"), `e-${i}`, `t:${i}`)).to.equal(
          false,
          `a at e-${i}`,
        );
      expect(took(positions, topicOf("chat", "b"), "e-3", "t:9")).to.equal(false, "b, 1,100 back");
    });

    it("takes a listen's position unless it has one of that session already", () => {
      const positions = new TabPositions();
      positions.listened(topicOf("chat", "a"), "e-4", "s:1");
      expect(positions.place(topicOf("chat", "a"))).to.deep.equal({ pos: "e-4", at: "s:1" });
      expect(took(positions, topicOf("chat", "a"), "e-4", "t:1")).to.equal(
        false,
        "had it before the listen",
      );
      took(positions, topicOf("chat", "a"), "e-5", "s:2");
      positions.listened(topicOf("chat", "a"), "e-9", "s:3"); // ahead of the notifications on their way
      expect(positions.place(topicOf("chat", "a"))).to.deep.equal({ pos: "e-5", at: "s:2" });
      positions.listened(topicOf("chat", "a"), "e-3", "t:0"); // a new session: the holder's view
      expect(positions.place(topicOf("chat", "a"))).to.deep.equal({ pos: "e-3", at: "t:0" });
      positions.listened(topicOf("chat", "a"), undefined, "t:1");
      expect(positions.place(topicOf("chat", "a"))?.pos).to.equal("e-3");
    });

    it("replayed for this tab: what comes past a hole waits, and all is taken once, in order", () => {
      const positions = new TabPositions();
      const got: string[] = [];
      const take = (pos: string, id: string) =>
        positions.take(topicOf("chat", "a"), pos, id, () => got.push(pos));
      take("e-2", "s:1");
      positions.replay(topicOf("chat", "a"));
      positions.listened(topicOf("chat", "a"), "e-6", "t:1"); // the holder's place: not this tab's
      take("e-5", "t:2"); // live, before the replay
      take("e-6", "t:3");
      expect(got).to.deep.equal(["e-2"], "waiting for e-3");
      take("e-3", "t:4"); // the replay
      take("e-4", "t:5");
      expect(got).to.deep.equal(["e-2", "e-3", "e-4", "e-5", "e-6"]);
      positions.replayed(topicOf("chat", "a"), true, "e-6");
      take("e-5", "t:6"); // the replay goes on: repeats
      take("e-6", "t:7");
      take("e-7", "t:8");
      expect(got).to.deep.equal(["e-2", "e-3", "e-4", "e-5", "e-6", "e-7"]);
      expect(positions.place(topicOf("chat", "a"))).to.deep.equal({ pos: "e-7", at: "t:8" });
    });

    it("a replay with a hole (a notification never sent) ends with the first one past its top", () => {
      const positions = new TabPositions();
      const got: string[] = [];
      const take = (pos: string, id: string) =>
        positions.take(topicOf("chat", "a"), pos, id, () => got.push(pos));
      take("e-1", "s:1");
      positions.replay(topicOf("chat", "a"));
      take("e-3", "t:1"); // e-2 was for another identity (prepare)
      positions.replayed(topicOf("chat", "a"), true, "e-3");
      expect(got).to.deep.equal(["e-1"]);
      take("e-4", "t:2");
      expect(got).to.deep.equal(["e-1", "e-3", "e-4"]);
    });

    it("a replay not recovered, or whose holder went: what waits is taken at once, in order", () => {
      const positions = new TabPositions();
      const got: string[] = [];
      const take = (topic: string, pos: string, id: string) =>
        positions.take(topic, pos, id, () => got.push(`${topic}@${pos}`));
      take("a", "e-1", "s:1");
      take("b", "e-1", "s:2");
      positions.replay("a");
      positions.replay("b");
      take("a", "e-4", "t:1");
      take("a", "e-3", "t:2");
      take("b", "e-5", "t:3");
      positions.replayed("a", false, "e-4");
      expect(got).to.deep.equal(["a@e-1", "b@e-1", "a@e-3", "a@e-4"]);
      expect(positions.abandon()).to.deep.equal(["b"]);
      expect(got.at(-1)).to.equal("b@e-5");
      take("b", "e-6", "t:4");
      expect(got.at(-1)).to.equal("b@e-6", "no longer waiting");
    });
  });

  describe("TabSince", () => {
    const listen = (pos: string | undefined, at: string | undefined, confirmed = true) => ({
      topic: topicOf("chat", "a"),
      item: { notifier: "chat", key: "a" },
      confirmed,
      pos,
      at,
    });

    it("recovers from the earliest position the tabs had, by the events that brought them", () => {
      const since = new TabSince("s:9");
      since.offer([listen("e-5", "s:7")]);
      since.offer([listen("e-3", "s:4")]);
      since.offer([listen("e-4", "s:6")]);
      expect(since.since(topicOf("chat", "a"))).to.equal("e-3");
      since.offer([listen("e-2", "r:8")]); // an older session than the one resumed
      expect(since.since(topicOf("chat", "a"))).to.equal("e-2");
      expect(since.since(topicOf("chat", "b"))).to.equal(undefined, "no tab had it");
    });

    it("knows of no position when a tab had none, and ignores listens not confirmed", () => {
      const since = new TabSince("s:9");
      since.offer([listen("e-7", "s:1", false)]);
      expect(since.since(topicOf("chat", "a"))).to.equal(undefined);
      since.offer([listen("e-5", "s:7")]);
      since.offer([listen(undefined, undefined)]);
      expect(since.since(topicOf("chat", "a"))).to.equal(null);
      since.offer([listen("e-1", "s:1")]);
      expect(since.since(topicOf("chat", "a"))).to.equal(null, "unknown stays: it may be earlier");
    });
  });

  describe("replayForTab", () => {
    const listen = (key: string, pos?: string) => ({
      topic: topicOf("chat", key),
      item: { notifier: "chat", key },
      confirmed: true,
      ...(pos ? { pos, at: "s:1" } : {}),
    });

    it("tells the tab, then asks a replay after its positions of the keys it still listens to", async () => {
      const messages: unknown[] = [];
      const asked: unknown[] = [];
      let ready = (): void => {};
      const readyA = new Promise<undefined>((resolve) => {
        ready = () => resolve(undefined);
      });
      const host = {
        term: 2,
        session: () => "s",
        ready: (_tab: string, topic: string) =>
          topic === "chat:a" ? readyA : topic === "chat:b" ? Promise.resolve(undefined) : undefined,
        async send(path: string, session: string, items: unknown[]) {
          asked.push({ path, session, items });
          return { items: [{ pos: "e-9", recovered: true }] } as const;
        },
        sendTo: (_tab: string, _message: unknown): void => {},
      };
      const done = new Promise<void>((resolve) => {
        host.sendTo = (tab, message) => {
          messages.push({ tab, message });
          if ((message as { type: string }).type === "replayed") resolve();
        };
      });
      replayForTab(host, "t", [listen("a", "e-3"), listen("b"), listen("c", "e-1")]);
      expect(messages).to.deep.equal([
        { tab: "t", message: { type: "replaying", term: 2, topics: ["chat:a", "chat:c"] } },
      ]);
      await Promise.resolve();
      expect(asked).to.deep.equal([], "not before the holder's own listen of a answered");
      ready();
      await done;
      expect(asked).to.deep.equal([
        {
          path: "/listen",
          session: "s",
          items: [{ notifier: "chat", key: "a", since: "e-3", replay: true }],
        },
      ]);
      expect(messages[1]).to.deep.equal({
        tab: "t",
        message: {
          type: "replayed",
          term: 2,
          items: [
            { topic: "chat:a", recovered: true, pos: "e-9" },
            { topic: "chat:c", recovered: false, pos: undefined },
          ],
          lost: [
            { notifier: "chat", key: "b" },
            { notifier: "chat", key: "c" },
          ],
        },
      });
    });

    it("a refused or failed replay loses every key asked", async () => {
      const messages: { type: string; lost?: unknown }[] = [];
      const replayed = new Promise<void>((resolve) => {
        replayForTab(
          {
            term: 1,
            session: () => "s",
            ready: () => Promise.resolve(undefined),
            send: () => Promise.reject(new RequestError(503, "unavailable", "no")),
            sendTo: (_tab, message) => {
              messages.push(message);
              if (message.type === "replayed") resolve();
            },
          },
          "t",
          [listen("a", "e-3")],
        );
      });
      await replayed;
      expect(messages.at(-1)?.lost).to.deep.equal([{ notifier: "chat", key: "a" }]);
    });
  });

  describe("HeldTopics", () => {
    it("follows the holder's changes and snapshots", () => {
      const held = new HeldTopics();
      const a = { topic: topicOf("chat", "a"), item: { notifier: "chat", key: "a" } };
      const b = { topic: topicOf("chat", "b"), item: { notifier: "chat", key: "b" } };
      expect(held.add(a)).to.equal(true);
      expect(held.add(a)).to.equal(false);
      const base = { type: "held", term: 1, tab: "t" as TabId } as const;
      held.apply({ ...base, add: [b], remove: [topicOf("chat", "a")], all: false });
      expect(held.entries()).to.deep.equal([["chat:b", b.item]]);
      held.apply({ ...base, add: [a], remove: [], all: true });
      expect(held.listens()).to.deep.equal([a]);
      expect(held.remove(topicOf("chat", "a"))).to.equal(true);
      expect(held.has(topicOf("chat", "a"))).to.equal(false);
    });

    it("answers who waits on a topic once it is settled", () => {
      const held = new HeldTopics();
      const done: string[] = [];
      held.whenSettled(topicOf("chat", "a"), () => done.push("a1"));
      held.whenSettled(topicOf("chat", "a"), () => done.push("a2"));
      held.whenSettled(topicOf("chat", "b"), () => done.push("b"));
      held.settle(topicOf("chat", "a"));
      held.settle(topicOf("chat", "a"));
      expect(done).to.deep.equal(["a1", "a2"]);
    });
  });
});
