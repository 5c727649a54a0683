import { expect } from "chai";
import { RequestError, type SendResult } from "../../client/listens.js";
import type { RecoveryReport } from "../../client/recovery.js";
import { defineNotifier } from "../../protocol/contract.js";
import { topicOf } from "../../protocol/keys.js";
import { fakeServer, settle, watch } from "./fakes.js";

const chat = defineNotifier<string, string>("chat");
const doc = defineNotifier<{ id: number }, string>("doc", { keyId: (key) => String(key.id) });

/** A 200 answer to a `/listen` with `since`. */
const positions = (...items: [string, boolean | null][]): SendResult => ({
  items: items.map(([pos, recovered]) => ({ pos, recovered })),
});

/** What `useSession` resolved to so far ("pending" until it did). */
function probe(promise: Promise<RecoveryReport | undefined>) {
  const state: { value: RecoveryReport | undefined | "pending" } = { value: "pending" };
  void promise.then((report) => {
    state.value = report;
  });
  return state;
}

/** What `useSession` resolved to once everything pending settled. */
async function outcome(promise: Promise<RecoveryReport | undefined>) {
  const state = probe(promise);
  await settle();
  return state.value;
}

describe("Listens: positions and recovery (SPEC §6)", () => {
  describe("positions sent as since", () => {
    it("asks for a position (since: null) the first time, and sends the pos answered on the next session", async () => {
      const { listens, calls } = fakeServer(() => positions(["e1:3", null]));
      listens.useSession("s1", true);
      await listens.listen(chat, "a");
      expect(calls[0]?.items).to.deep.equal([{ notifier: "chat", key: "a", since: null }]);
      listens.useSession("s2", true);
      await settle();
      expect(calls[1]?.items).to.deep.equal([{ notifier: "chat", key: "a", since: "e1:3" }]);
    });

    it("sends the position of the last notification it got, found with the notifier's keyId", async () => {
      const { listens, calls } = fakeServer(() => positions(["e1:3", null]));
      listens.useSession("s1", true);
      await listens.listen(doc, { id: 1 });
      listens.observe("doc", { id: 1, title: "other fields" }, "e1:4");
      listens.observe("doc", { id: 1 }, "e1:5");
      listens.observe("doc", { id: 2 }, "e1:9"); // not listened to
      listens.observe("chat", "a", "e1:9"); // nor this notifier
      listens.useSession("s2", true);
      await settle();
      expect(calls[1]?.items).to.deep.equal([{ notifier: "doc", key: { id: 1 }, since: "e1:5" }]);
    });

    it("after recovered: true keeps the since it sent until the replayed notifications arrive", async () => {
      const answers = [positions(["e1:3", null]), positions(["e1:9", true])];
      const { listens, calls } = fakeServer(() => answers.shift() ?? positions(["e1:9", true]));
      listens.useSession("s1", true);
      await listens.listen(chat, "a");
      listens.observe("chat", "a", "e1:5");
      listens.useSession("s2", true); // answered pos e1:9, recovered: the replay of 6..9 is due
      await settle();
      listens.useSession("s3", true); // lost again before the replay arrived
      await settle();
      expect(calls.map((c) => c.items[0]?.since)).to.deep.equal([null, "e1:5", "e1:5"]);
      listens.observe("chat", "a", "e1:7");
      listens.useSession("s4", true);
      await settle();
      expect(calls[3]?.items[0]?.since).to.equal("e1:7");
    });

    it("does not let a listen's answer undo a notification that arrived before it", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      void listens.listen(chat, "a");
      await settle();
      listens.observe("chat", "a", "e1:6"); // delivered before the answer came back
      calls[0]?.answer(positions(["e1:5", null]));
      await settle();
      listens.useSession("s2", true);
      await settle();
      expect(calls[1]?.items[0]?.since).to.equal("e1:6");
    });

    it("starts afresh (since: null) on a key unlistened and listened again", async () => {
      const { listens, calls } = fakeServer((call) =>
        call.path === "/listen" ? positions(["e1:3", null]) : "ok",
      );
      listens.useSession("s1", true);
      await listens.listen(chat, "a");
      await listens.unlisten(chat, "a");
      await listens.listen(chat, "a");
      expect(calls.map((c) => [c.path, c.items[0]?.since])).to.deep.equal([
        ["/listen", null],
        ["/unlisten", undefined],
        ["/listen", null],
      ]);
    });
  });

  describe("the recovery report", () => {
    it("is undefined for the first session", async () => {
      const { listens } = fakeServer(() => positions(["e1:0", null]));
      void listens.listen(chat, "a");
      expect(await outcome(listens.useSession("s1", true))).to.equal(undefined);
    });

    it("says recovered when every key recovered", async () => {
      const { listens } = fakeServer((call) =>
        positions(...call.items.map((item): [string, boolean | null] => ["e1:1", !!item.since])),
      );
      listens.useSession("s1", true);
      await Promise.all([listens.listen(chat, "a"), listens.listen(chat, "b")]);
      expect(await outcome(listens.useSession("s2", true))).to.deep.equal({
        recovered: true,
        lost: [],
      });
    });

    it("names the keys that did not recover, or were answered without positions", async () => {
      const answers: SendResult[] = [
        positions(["e1:1", null], ["e1:1", null], ["e1:1", null]),
        positions(["e1:1", true], ["e2:0", false], ["e1:1", true]),
      ];
      const { listens } = fakeServer(() => answers.shift() ?? "ok");
      listens.useSession("s1", true);
      await Promise.all([
        listens.listen(chat, "a"),
        listens.listen(chat, "b"),
        listens.listen(doc, { id: 3 }),
      ]);
      expect(await outcome(listens.useSession("s2", true))).to.deep.equal({
        recovered: false,
        lost: [{ notifier: "chat", key: "b" }],
      });
      expect(await outcome(listens.useSession("s3", true)), "a 204: no history").to.deep.equal({
        recovered: false,
        lost: [
          { notifier: "chat", key: "a" },
          { notifier: "chat", key: "b" },
          { notifier: "doc", key: { id: 3 } },
        ],
      });
    });

    it("counts a key lost on any of several sessions lost in a row", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const a = listens.listen(chat, "a");
      await settle();
      calls[0]?.answer(positions(["e1:1", null]));
      await a;
      void listens.useSession("s2", true);
      await settle();
      calls[1]?.answer("session"); // s2 is gone before it answered
      await settle();
      const last = listens.useSession("s3", true);
      await settle();
      calls[2]?.answer(positions(["e1:1", true]));
      expect(await outcome(last)).to.deep.equal({ recovered: true, lost: [] });
    });

    it("leaves out keys the app unlistened meanwhile", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const both = Promise.all([listens.listen(chat, "a"), listens.listen(chat, "b")]);
      await settle();
      calls[0]?.answer(positions(["e1:1", null], ["e1:1", null]));
      await both;
      const report = probe(listens.useSession("s2", true));
      await settle();
      const off = watch(listens.unlisten(chat, "b")); // in flight for s2
      calls[1]?.answer(positions(["e1:1", true], ["e1:1", false]));
      await settle();
      expect(calls[2]?.path, "b confirmed for s2, then unlistened").to.equal("/unlisten");
      calls[2]?.answer("ok");
      await settle();
      expect(off.settled).to.equal("resolved");
      expect(report.value).to.deep.equal({ recovered: true, lost: [] });
    });
  });

  describe("issue 10 regressions", () => {
    it("settles an unlisten whose session was lost (410) instead of waiting for ever", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const a = listens.listen(chat, "a");
      await settle();
      calls[0]?.answer("ok");
      await a;
      const off = watch(listens.unlisten(chat, "a"));
      await settle();
      expect(calls[1]?.path).to.equal("/unlisten");
      calls[1]?.answer("session");
      await settle();
      expect(off.settled, "the server stopped sending with the session").to.equal("resolved");
    });

    it("settles an unlisten waiting behind an in-flight listen when the session is lost", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      void listens.listen(chat, "a");
      await settle();
      const off = watch(listens.unlisten(chat, "a"));
      listens.dropSession();
      await settle();
      expect(off.settled).to.equal("resolved");
      calls[0]?.answer("session");
      await settle();
    });

    it("does not report a new session before a failed (503) re-listen went through", async () => {
      const { listens, calls, clock, networkErrors } = fakeServer();
      listens.useSession("s1", true);
      const a = listens.listen(chat, "a");
      await settle();
      calls[0]?.answer(positions(["e1:1", null]));
      await a;
      const report = probe(listens.useSession("s2", true));
      await settle();
      calls[1]?.answer(new RequestError(503, "unavailable", "busy"));
      await settle();
      expect(report.value).to.equal("pending");
      expect(networkErrors).to.have.length(1);
      expect(clock.runNext(), "a retry is scheduled").to.equal(true);
      await settle();
      expect(calls[2]).to.deep.include({ path: "/listen", session: "s2" });
      calls[2]?.answer(positions(["e1:1", true]));
      await settle();
      expect(report.value).to.deep.equal({ recovered: true, lost: [] });
    });

    it("reports a key refused on the automatic re-listen, and names it in lost", async () => {
      const { listens, refused } = fakeServer((call) =>
        call.session === "s2" && call.items.some((item) => item.key === "secret")
          ? new RequestError(403, "forbidden", "no longer")
          : positions(...call.items.map((): [string, boolean | null] => ["e1:1", true])),
      );
      listens.useSession("s1", true);
      await Promise.all([listens.listen(chat, "open"), listens.listen(chat, "secret")]);
      const report = await outcome(listens.useSession("s2", true));
      expect(report).to.deep.equal({
        recovered: false,
        lost: [{ notifier: "chat", key: "secret" }],
      });
      expect(refused.map(([error, item]) => [(error as RequestError).code, item])).to.deep.equal([
        ["forbidden", { notifier: "chat", key: "secret" }],
      ]);
      expect(listens.wants(topicOf("chat", '"secret"'))).to.equal(false);
    });

    it("retries failed requests after growing delays, and starts over after a success", async () => {
      let fail = 3;
      const { listens, clock } = fakeServer(() =>
        fail-- > 0 ? new TypeError("fetch failed") : positions(["e1:1", null]),
      );
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      for (let i = 0; i < 3; i += 1) {
        await settle();
        clock.runNext();
      }
      await settle();
      expect(a.settled).to.equal("resolved");
      expect(clock.delays, "random 0.5 of 2 s, 4 s, 8 s").to.deep.equal([1_000, 2_000, 4_000]);
      fail = 1;
      void listens.listen(chat, "b");
      await settle();
      expect(clock.delays.at(-1), "from the first delay again").to.equal(1_000);
    });
  });
});
