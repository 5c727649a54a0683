import { expect } from "chai";
import { RequestError } from "../../client/listens.js";
import { defineNotifier } from "../../protocol/contract.js";
import { topicOf } from "../../protocol/keys.js";
import type { ListenItem } from "../../protocol/wire.js";
import { fakeServer, settle, watch } from "./fakes.js";

const chat = defineNotifier<string, string>("chat");
const doc = defineNotifier<{ id: number }, string>("doc");

const ok = () => "ok" as const;

describe("Listens (client reconcile loop)", () => {
  describe("batching", () => {
    it("sends the listens made in one tick as one request with items", async () => {
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await settle();
      const done = Promise.all([
        listens.listen(chat, "a"),
        listens.listen(chat, "b"),
        listens.listen(doc, { id: 1 }),
      ]);
      await done;
      expect(calls).to.have.length(1);
      expect(calls[0]?.path).to.equal("/listen");
      expect(calls[0]?.session).to.equal("s1");
      expect(calls[0]?.items).to.deep.equal([
        { notifier: "chat", key: "a", since: null },
        { notifier: "chat", key: "b", since: null },
        { notifier: "doc", key: { id: 1 }, since: null },
      ]);
    });

    it("waits for a session before sending, then sends everything wanted", async () => {
      const { listens, calls } = fakeServer(ok);
      const a = watch(listens.listen(chat, "a"));
      const b = watch(listens.listen(chat, "b"));
      await settle();
      expect(calls).to.have.length(0);
      expect(a.settled).to.equal("pending");
      listens.useSession("s1", true);
      await settle();
      expect(calls.map((c) => c.items.length)).to.deep.equal([2]);
      expect([a.settled, b.settled]).to.deep.equal(["resolved", "resolved"]);
    });

    it("resolves a listen only once the server answered", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      await settle();
      expect(calls).to.have.length(1);
      expect(a.settled).to.equal("pending");
      calls[0]?.answer("ok");
      await settle();
      expect(a.settled).to.equal("resolved");
    });

    it("batches listens made while a request is in flight into the next request", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      await settle();
      const b = watch(listens.listen(chat, "b"));
      const c = watch(listens.listen(chat, "c"));
      await settle();
      expect(calls).to.have.length(1);
      calls[0]?.answer("ok");
      await settle();
      expect(a.settled).to.equal("resolved");
      expect(calls).to.have.length(2);
      expect(calls[1]?.items.map((i) => i.key)).to.deep.equal(["b", "c"]);
      calls[1]?.answer("ok");
      await settle();
      expect([b.settled, c.settled]).to.deep.equal(["resolved", "resolved"]);
    });

    it("uses the notifier's keyId to tell keys apart", async () => {
      const byId = defineNotifier<{ id: number; title: string }, string>("docs", {
        keyId: (key) => String(key.id),
      });
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await Promise.all([
        listens.listen(byId, { id: 1, title: "x" }),
        listens.listen(byId, { id: 1, title: "y" }),
      ]);
      expect(calls).to.have.length(1);
      expect(calls[0]?.items).to.have.length(1);
      expect(listens.wants(topicOf("docs", "1"))).to.equal(true);
    });
  });

  describe("reference counting", () => {
    it("sends one request for two listens of one key", async () => {
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await listens.listen(chat, "a");
      await listens.listen(chat, "a");
      expect(calls).to.have.length(1);
      expect(listens.size).to.equal(1);
    });

    it("sends no request for the first of two unlistens, and /unlisten for the second", async () => {
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await Promise.all([listens.listen(chat, "a"), listens.listen(chat, "a")]);
      expect(calls).to.have.length(1);
      await listens.unlisten(chat, "a");
      await settle();
      expect(calls).to.have.length(1);
      expect(listens.wants(topicOf("chat", '"a"'))).to.equal(true);
      await listens.unlisten(chat, "a");
      expect(calls).to.have.length(2);
      expect(calls[1]?.path).to.equal("/unlisten");
      expect(calls[1]?.items).to.deep.equal([{ notifier: "chat", key: "a" }]);
      expect(listens.wants(topicOf("chat", '"a"'))).to.equal(false);
      expect(listens.size).to.equal(0);
    });

    it("resolves an unlisten only once the server answered", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const a = listens.listen(chat, "a");
      await settle();
      calls[0]?.answer("ok");
      await a;
      const off = watch(listens.unlisten(chat, "a"));
      await settle();
      expect(calls[1]?.path).to.equal("/unlisten");
      expect(off.settled).to.equal("pending");
      calls[1]?.answer("ok");
      await settle();
      expect(off.settled).to.equal("resolved");
    });

    it("ignores an unlisten of a key never listened to", async () => {
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await listens.unlisten(chat, "nope");
      await settle();
      expect(calls).to.have.length(0);
    });

    it("listens again after a key was fully unlistened", async () => {
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await listens.listen(chat, "a");
      await listens.unlisten(chat, "a");
      await listens.listen(chat, "a");
      expect(calls.map((c) => c.path)).to.deep.equal(["/listen", "/unlisten", "/listen"]);
    });
  });

  describe("unlisten before the listen was confirmed", () => {
    it("sends nothing when both happen in one tick, and resolves the listen", async () => {
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await settle();
      const a = watch(listens.listen(chat, "a"));
      await listens.unlisten(chat, "a");
      await settle();
      expect(calls).to.have.length(0);
      expect(a.settled).to.equal("resolved");
    });

    it("unlistens on the server once the in-flight listen is confirmed, and resolves after that", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      await settle();
      expect(calls).to.have.length(1);
      const u = watch(listens.unlisten(chat, "a"));
      await settle();
      expect(a.settled).to.equal("resolved");
      expect(u.settled, "the server still holds the listen").to.equal("pending");
      expect(calls).to.have.length(1);
      calls[0]?.answer("ok");
      await settle();
      expect(calls).to.have.length(2);
      expect(calls[1]?.path).to.equal("/unlisten");
      expect(calls[1]?.items).to.deep.equal([{ notifier: "chat", key: "a" }]);
      expect(u.settled).to.equal("pending");
      calls[1]?.answer("ok");
      await settle();
      expect(u.settled).to.equal("resolved");
    });
  });

  describe("unlisten then listen again before anything was sent", () => {
    it("resolves the superseded unlisten and keeps the server's listen", async () => {
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await listens.listen(chat, "a");
      const u = watch(listens.unlisten(chat, "a"));
      const again = watch(listens.listen(chat, "a"));
      await settle();
      expect(u.settled).to.equal("resolved");
      expect(again.settled).to.equal("resolved");
      expect(calls.map((call) => call.path)).to.deep.equal(["/listen"]);
    });
  });

  describe("review regressions", () => {
    it("goes on with the new session when a request of the old one answers 410", async () => {
      const { listens, calls, lost } = fakeServer();
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      await settle();
      listens.useSession("s2", true); // the stream got a new session meanwhile
      calls[0]?.answer("session"); // the old session is gone
      await settle();
      expect(lost).to.deep.equal([]);
      expect(calls[1]).to.deep.include({ path: "/listen", session: "s2" });
      calls[1]?.answer("ok");
      await settle();
      expect(a.settled).to.equal("resolved");
    });

    it("does not throw when a key is unlistened while a refused batch is retried item by item", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      watch(listens.listen(chat, "b"));
      const c = watch(listens.listen(chat, "c"));
      await settle();
      calls[0]?.answer(new RequestError(403, "forbidden", "no"));
      await settle();
      expect(calls[1]?.items).to.deep.equal([{ notifier: "chat", key: "a", since: null }]);
      await listens.unlisten(chat, "b");
      calls[1]?.answer("ok");
      await settle();
      expect(calls[2]?.items, "b is skipped").to.deep.equal([
        { notifier: "chat", key: "c", since: null },
      ]);
      calls[2]?.answer("ok");
      await settle();
      expect([a.settled, c.settled]).to.deep.equal(["resolved", "resolved"]);
    });

    it("does not resolve a listen while an unlisten of that key is on the wire", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const first = listens.listen(chat, "a");
      await settle();
      calls[0]?.answer("ok");
      await first;
      void listens.unlisten(chat, "a");
      await settle();
      expect(calls[1]?.path).to.equal("/unlisten");
      const again = watch(listens.listen(chat, "a"));
      await settle();
      expect(again.settled, "the server is dropping the key").to.equal("pending");
      calls[1]?.answer("ok");
      await settle();
      expect(calls[2]?.path).to.equal("/listen");
      calls[2]?.answer("ok");
      await settle();
      expect(again.settled).to.equal("resolved");
    });
  });

  describe("sessions", () => {
    it("listens again to everything after useSession(id, true)", async () => {
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await Promise.all([listens.listen(chat, "a"), listens.listen(doc, { id: 2 })]);
      listens.useSession("s2", true);
      await settle();
      expect(calls).to.have.length(2);
      expect(calls[1]?.path).to.equal("/listen");
      expect(calls[1]?.session).to.equal("s2");
      expect(calls[1]?.items).to.deep.equal([
        { notifier: "chat", key: "a", since: null },
        { notifier: "doc", key: { id: 2 }, since: null },
      ]);
    });

    it("sends nothing after useSession(id, false) (a resumed session keeps its listens)", async () => {
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await listens.listen(chat, "a");
      listens.useSession("s1", false);
      await settle();
      expect(calls).to.have.length(1);
    });

    it("does not listen again to keys unlistened before the new session", async () => {
      const { listens, calls } = fakeServer(ok);
      listens.useSession("s1", true);
      await Promise.all([listens.listen(chat, "a"), listens.listen(chat, "b")]);
      await listens.unlisten(chat, "a");
      listens.useSession("s2", true);
      await settle();
      expect(calls.at(-1)?.session).to.equal("s2");
      expect(calls.at(-1)?.items).to.deep.equal([{ notifier: "chat", key: "b", since: null }]);
    });

    it("calls onSessionLost when the server says the session is gone", async () => {
      const { listens, calls, lost } = fakeServer(() => "session");
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      await settle();
      expect(calls).to.have.length(1);
      expect(lost).to.have.length(1);
      expect(a.settled).to.equal("pending");
      await settle();
      expect(calls).to.have.length(1); // no retry until a new session
    });

    it("resolves the pending listens on the next session after a lost one", async () => {
      let first = true;
      const { listens, calls } = fakeServer(() => {
        const result = first ? "session" : "ok";
        first = false;
        return result;
      });
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      await settle();
      listens.useSession("s2", true);
      await settle();
      expect(calls.map((c) => c.session)).to.deep.equal(["s1", "s2"]);
      expect(a.settled).to.equal("resolved");
    });

    it("does not confirm listens answered for a session that was replaced meanwhile", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      await settle();
      listens.useSession("s2", true);
      calls[0]?.answer("ok");
      await settle();
      expect(a.settled).to.equal("pending");
      expect(calls[1]?.session).to.equal("s2");
      calls[1]?.answer("ok");
      await settle();
      expect(a.settled).to.equal("resolved");
    });
  });

  describe("refusals", () => {
    const refuse = (bad: string) => (call: { items: ListenItem[] }) =>
      call.items.some((item) => item.key === bad)
        ? new RequestError(403, "forbidden", "not allowed")
        : ("ok" as const);

    it("rejects only the refused listen of a batch, retrying the items one by one", async () => {
      const { listens, calls } = fakeServer(refuse("bad"));
      listens.useSession("s1", true);
      await settle();
      const a = watch(listens.listen(chat, "a"));
      const bad = watch(listens.listen(chat, "bad"));
      const c = watch(listens.listen(chat, "c"));
      await settle();
      expect([a.settled, bad.settled, c.settled]).to.deep.equal([
        "resolved",
        "rejected",
        "resolved",
      ]);
      expect(bad.error).to.be.instanceOf(RequestError);
      expect((bad.error as RequestError).code).to.equal("forbidden");
      expect((bad.error as RequestError).status).to.equal(403);
      expect(calls.map((call) => call.items.map((i) => i.key))).to.deep.equal([
        ["a", "bad", "c"],
        ["a"],
        ["bad"],
        ["c"],
      ]);
      expect(listens.wants(topicOf("chat", '"bad"'))).to.equal(false);
      expect(listens.wants(topicOf("chat", '"a"'))).to.equal(true);
    });

    it("rejects every waiter of a refused key and forgets it", async () => {
      const { listens, calls } = fakeServer(refuse("bad"));
      listens.useSession("s1", true);
      const one = watch(listens.listen(chat, "bad"));
      const two = watch(listens.listen(chat, "bad"));
      await settle();
      expect([one.settled, two.settled]).to.deep.equal(["rejected", "rejected"]);
      expect(listens.size).to.equal(0);
      listens.useSession("s2", true);
      await settle();
      expect(calls).to.have.length(1); // not asked again on a new session
    });

    it("reports a network failure and keeps the listen pending", async () => {
      const { listens, networkErrors } = fakeServer(() => new TypeError("fetch failed"));
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      await settle();
      expect(networkErrors).to.have.length(1);
      expect(networkErrors[0]?.message).to.equal("fetch failed");
      expect(a.settled).to.equal("pending");
      listens.close();
      await settle();
      expect(a.settled).to.equal("rejected");
    });
  });

  describe("taking a session over (a tab taking over a shared stream)", () => {
    const items = (calls: { items: ListenItem[] }[]) => calls.flatMap((c) => c.items);
    /** Answers a /listen with a position per item, recovered when `since` is one of `kept`. */
    const history =
      (kept: string[]) =>
      ({ path, items: sent }: { path: string; items: ListenItem[] }) =>
        path === "/unlisten"
          ? ("ok" as const)
          : {
              items: sent.map((item) => ({
                pos: "e-9",
                recovered: typeof item.since === "string" ? kept.includes(item.since) : null,
              })),
            };

    it("the session gone: recovers each key from the tabs' position, and reports what was lost", async () => {
      const since = new Map<string, string | null>([
        ['chat:"a"', "e-3"],
        ['chat:"b"', "e-1"],
        ['chat:"c"', null],
      ]);
      const { listens, calls } = fakeServer(history(["e-3"]), {
        since: (topic) => since.get(topic),
        held: () => [],
      });
      for (const key of ["a", "b", "c", "new"]) void listens.listen(chat, key);
      const report = await listens.useSession("s2", true);
      expect(items(calls)).to.deep.equal([
        { notifier: "chat", key: "a", since: "e-3" },
        { notifier: "chat", key: "b", since: "e-1" },
        { notifier: "chat", key: "c", since: null },
        { notifier: "chat", key: "new", since: null },
      ]);
      expect(report).to.deep.equal({
        recovered: false,
        lost: [
          { notifier: "chat", key: "b" },
          { notifier: "chat", key: "c" },
        ],
      });
      expect(listens.position(chat, "a")).to.equal("e-3", "kept until the replay arrives");
      expect(listens.position(chat, "b")).to.equal("e-9");
    });

    it("every key recovered: reports recovered, and reads the handover once only", async () => {
      let read = 0;
      const { listens, calls } = fakeServer(history(["e-3"]), {
        since: () => {
          read += 1;
          return "e-3";
        },
        held: () => [],
      });
      void listens.listen(chat, "a");
      expect(await listens.useSession("s2", true)).to.deep.equal({ recovered: true, lost: [] });
      listens.dropSession();
      await listens.useSession("s3", true);
      expect(read).to.equal(1);
      expect(calls.at(-1)?.items).to.deep.equal([{ notifier: "chat", key: "a", since: "e-3" }]);
    });

    it("the session resumed: unlistens what the server holds and no tab wants", async () => {
      const { listens, calls } = fakeServer(ok, {
        since: () => "e-3",
        held: () => [
          [topicOf("chat", '"a"'), { notifier: "chat", key: "a" }],
          [topicOf("chat", '"gone"'), { notifier: "chat", key: "gone" }],
        ],
      });
      void listens.listen(chat, "a");
      await listens.useSession("s1", false);
      expect(calls.map((c) => [c.path, c.items])).to.deep.equal([
        ["/listen", [{ notifier: "chat", key: "a", since: null }]],
        ["/unlisten", [{ notifier: "chat", key: "gone" }]],
      ]);
    });
  });

  describe("close", () => {
    it("rejects pending listens and refuses new ones", async () => {
      const { listens, calls } = fakeServer();
      listens.useSession("s1", true);
      const a = watch(listens.listen(chat, "a"));
      await settle();
      listens.close();
      await settle();
      expect(a.settled).to.equal("rejected");
      const b = watch(listens.listen(chat, "b"));
      await settle();
      expect(b.settled).to.equal("rejected");
      calls[0]?.answer("ok");
      await settle();
      expect(calls).to.have.length(1);
      expect(listens.size).to.equal(0);
    });
  });
});
