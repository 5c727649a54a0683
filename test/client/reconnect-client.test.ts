import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { answers, flush, rig } from "./rig.js";

const chat = defineNotifier<string, string>("chat");

describe("createNotifClient: reconnection and recovery (scripted stream, fake clock)", () => {
  describe("backoff on every path", () => {
    it("reopens a dropped stream only after a jittered delay that grows while it fails", async () => {
      const { client, sources, source, clock } = rig(() => answers.ok());
      source().open("s1", "new");
      await client.listen(chat, "a");
      source().fail();
      expect(sources, "not at once, and not by the EventSource itself").to.have.length(1);
      expect(sources[0]?.readyState, "closed: the client reconnects by itself").to.equal(2);
      expect(clock.delays.at(-1)).to.equal(50); // random 0.5 × retry 100
      clock.runNext();
      expect(sources).to.have.length(2);
      expect(source().url).to.equal("http://hub.test/notif/events?lastEventId=s1%3A0");
      source().fail(2); // refused (a 502 from a proxy, say)
      source().fail(); // nothing more: that source is gone
      clock.runNext();
      source().fail();
      expect(clock.delays.slice(-2)).to.deep.equal([100, 200]);
      clock.runNext();
      source().open("s1", "resumed");
      source().fail();
      expect(clock.delays.at(-1), "a healthy session starts over").to.equal(50);
    });

    it("backs off when every /listen answers 410 instead of reconnecting in a loop", async () => {
      const { client, sources, source, clock, posts } = rig(() =>
        answers.error(410, "unknown_session"),
      );
      void client.listen(chat, "a").catch(() => {});
      for (let i = 1; i <= 6; i += 1) {
        source().open(`s${i}`, "new");
        await flush();
        expect(sources, "no new stream before the delay").to.have.length(i);
        expect(clock.runNext()).to.equal(true);
      }
      expect(clock.delays).to.deep.equal([50, 100, 200, 400, 800, 1_600]);
      expect(posts.filter((p) => p.path === "/notif/listen")).to.have.length(6);
      expect(source().url, "a fresh session each time").to.equal("http://hub.test/notif/events");
    });

    it("caps the delay at maxRetry (30 s by default)", async () => {
      const { source, clock } = rig(() => answers.ok(), 2_000);
      for (let i = 0; i < 8; i += 1) {
        source().fail();
        clock.runNext();
      }
      expect(clock.delays).to.deep.equal([
        1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000, 15_000,
      ]);
    });

    it("draws every delay at random (no two clients wait alike)", async () => {
      const { source, clock } = rig(() => answers.ok(), 1_000);
      const drawn: number[] = [];
      for (const random of [0.1, 0.9, 0.3]) {
        clock.setRandom(random);
        source().fail();
        drawn.push(clock.delays.at(-1) as number);
        clock.runNext();
        source().open("s1", "resumed"); // healthy again: the bound is 1 s each time
      }
      expect(drawn).to.deep.equal([100, 900, 300]);
    });
  });

  describe("recovery by position", () => {
    it("listens again with the last position it got, and reports recovered", async () => {
      const { client, source, clock, posts, statuses } = rig((post) =>
        post.body.items?.[0]?.since === "e1:4"
          ? answers.positions(["e1:6", true])
          : answers.positions(["e1:2", null]),
      );
      source().open("s1", "new");
      await client.listen(chat, "a"); // no `on` handler: positions are still followed
      source().emit("chat", { key: "a", data: "three", pos: "e1:3" });
      source().emit("chat", { key: "a", data: "four", pos: "e1:4" });
      source().fail();
      clock.runNext();
      source().open("s2", "new"); // the node is gone: a new session elsewhere
      await flush();
      expect(posts.at(-1)?.body).to.deep.equal({
        session: "s2",
        items: [{ notifier: "chat", key: "a", since: "e1:4" }],
      });
      expect(statuses.at(-1)).to.deep.equal({
        state: "open",
        session: "s2",
        resumed: false,
        recovered: true,
        gap: false,
        lost: [],
      });
    });

    it("reports gap with the keys not recovered, once every key is listened again", async () => {
      const { client, source, clock, statuses } = rig((post) =>
        post.body.session === "s1"
          ? answers.positions(...post.body.items.map((): [string, null] => ["e1:1", null]))
          : answers.positions(["e1:1", true], ["e9:0", false]),
      );
      source().open("s1", "new");
      await Promise.all([client.listen(chat, "kept"), client.listen(chat, "trimmed")]);
      source().fail();
      clock.runNext();
      source().open("s2", "new");
      await flush();
      expect(statuses.at(-1)).to.deep.include({
        session: "s2",
        recovered: false,
        gap: true,
        lost: [{ notifier: "chat", key: "trimmed" }],
      });
    });

    it("tells a 503 on the re-listen from a gap: no status until the retry went through", async () => {
      let unavailable = 1;
      const { client, source, clock, statuses } = rig((post) =>
        post.body.session === "s2" && unavailable-- > 0
          ? answers.error(503, "unavailable")
          : answers.positions(["e1:1", post.body.session === "s2"]),
      );
      source().open("s1", "new");
      await client.listen(chat, "a");
      source().fail();
      clock.runNext();
      const before = statuses.length;
      source().open("s2", "new");
      await flush();
      expect(statuses.slice(before), "nothing told while not listening").to.deep.equal([]);
      clock.runNext(); // the retry of the listen
      await flush();
      expect(statuses.at(-1)).to.deep.include({ session: "s2", recovered: true, gap: false });
    });

    it("sends a key refused on the automatic re-listen to onError and names it in lost", async () => {
      const { client, source, clock, statuses, errors } = rig((post) =>
        post.body.session === "s2" && post.body.items.some((item) => item.key === "secret")
          ? answers.error(403, "forbidden")
          : answers.positions(...post.body.items.map((): [string, true] => ["e1:1", true])),
      );
      source().open("s1", "new");
      await Promise.all([client.listen(chat, "open"), client.listen(chat, "secret")]);
      source().fail();
      clock.runNext();
      source().open("s2", "new");
      await flush();
      expect(errors.map(([error, context]) => [error.name, context])).to.deep.equal([
        ["RequestError", { type: "refused", notifier: "chat", key: "secret" }],
      ]);
      expect(statuses.at(-1)).to.deep.include({
        gap: true,
        lost: [{ notifier: "chat", key: "secret" }],
      });
    });

    it("reports an in-stream gap event with its lost keys, the session kept", async () => {
      const { client, source, statuses, posts } = rig(() => answers.positions(["e1:1", null]));
      source().open("s1", "new");
      await client.listen(chat, "a");
      const sent = posts.length;
      source().emit("session", {
        session: "s1",
        status: "gap",
        lost: [{ notifier: "chat", key: "a" }],
      });
      expect(statuses.at(-1)).to.deep.include({
        state: "open",
        session: "s1",
        gap: true,
        lost: [{ notifier: "chat", key: "a" }],
      });
      await flush();
      expect(posts, "no re-listen: the session holds its listens").to.have.length(sent);
      expect(client.session()).to.equal("s1");
    });

    it("on a resume with gap (events evicted), names every key listened to", async () => {
      const { client, source, clock, statuses } = rig(() => answers.positions(["e1:1", null]));
      source().open("s1", "new");
      await client.listen(chat, "a");
      source().fail();
      clock.runNext();
      source().open("s1", "gap", 7);
      expect(statuses.at(-1)).to.deep.include({
        resumed: false,
        gap: true,
        lost: [{ notifier: "chat", key: "a" }],
      });
    });
  });
});
