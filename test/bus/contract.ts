/**
 * The behaviour every bus must have, run against each one. Two buses made by
 * `makeBus` play two nodes; they must see each other's messages.
 */
import { expect } from "chai";
import { type Bus, hasHistory } from "../../server/bus.js";
import type { HistoryLimits } from "../../server/history.js";
import { formatPosition } from "../../server/positions.js";
import { freshChannel, type Node, startNode, until } from "./helpers.js";

interface Inbox {
  readonly messages: string[];
  /** A new handler function on each read, as distinct subscriptions would have. */
  readonly onMessage: (message: string) => void;
}

/** Records what subscriptions receive. */
function inbox(): Inbox {
  const messages: string[] = [];
  return {
    messages,
    get onMessage() {
      return (message: string) => {
        messages.push(message);
      };
    },
  };
}

/** The history bounds the contract starts buses with: small, to see trimming. */
const HISTORY: HistoryLimits = { size: 5, ttl: 60_000, maxBytes: 1_048_576 };

/**
 * `history: false` for a bus that has no history operations yet: the
 * history part of the contract is then not registered (rather than skipped).
 */
export function busContract(
  name: string,
  makeBus: () => Bus | Promise<Bus>,
  { history = true }: { history?: boolean } = {},
): void {
  describe(`bus contract: ${name}`, () => {
    let nodes: Node[] = [];
    let a: Node;
    let b: Node;

    beforeEach(async () => {
      a = await startNode(await makeBus(), "a", HISTORY);
      b = await startNode(await makeBus(), "b", HISTORY);
      nodes = [a, b];
    });

    afterEach(async () => {
      await Promise.all(nodes.map((node) => node.bus.close()));
      for (const node of nodes) expect(node.errors, "unexpected onError calls").to.deep.equal([]);
    });

    /** Publishes on a subscribed probe channel and waits for it: everything sent before has landed. */
    async function flush(): Promise<void> {
      const channel = freshChannel("probe");
      const probe = inbox();
      const unsubscribe = await a.bus.subscribe(channel, probe.onMessage);
      await b.bus.publish(channel, "probe");
      await until(() => probe.messages.length === 1, 3_000, "the probe message");
      await unsubscribe();
    }

    it("is shared and ok once started", () => {
      for (const node of nodes) {
        expect(node.bus.kind).to.equal("shared");
        expect(node.bus.status()).to.equal("ok");
      }
    });

    it("delivers a message published on another node after subscribe resolved", async () => {
      const channel = freshChannel();
      const got = inbox();
      await a.bus.subscribe(channel, got.onMessage);
      await b.bus.publish(channel, "hello");
      await until(() => got.messages.length === 1, 3_000, "the message");
      expect(got.messages).to.deep.equal(["hello"]);
    });

    it("delivers to the publishing node's own subscription too (the hub drops its echo)", async () => {
      const channel = freshChannel();
      const got = inbox();
      await a.bus.subscribe(channel, got.onMessage);
      await a.bus.publish(channel, "echo");
      await until(() => got.messages.length === 1, 3_000, "the echo");
    });

    it("passes any string through unchanged", async () => {
      const channel = freshChannel();
      const got = inbox();
      const texts = ["", "line\nbreak\r\n", '{"json":true}', "ünïcødé ✓ 🎉", "x".repeat(100_000)];
      await a.bus.subscribe(channel, got.onMessage);
      for (const text of texts) await b.bus.publish(channel, text);
      await until(() => got.messages.length === texts.length, 3_000, "the messages");
      expect(got.messages).to.deep.equal(texts);
    });

    it("keeps the order of messages on one channel", async () => {
      const channel = freshChannel();
      const got = inbox();
      await a.bus.subscribe(channel, got.onMessage);
      const sent = Array.from({ length: 200 }, (_, i) => `m${i}`);
      await Promise.all(sent.map((message) => b.bus.publish(channel, message)));
      await until(() => got.messages.length === sent.length, 5_000, "all messages");
      expect(got.messages).to.deep.equal(sent);
    });

    it("delivers nothing on a channel not subscribed", async () => {
      const channel = freshChannel();
      const other = freshChannel();
      const got = inbox();
      await a.bus.subscribe(channel, got.onMessage);
      await b.bus.publish(other, "not for a");
      await b.bus.publish(channel, "for a");
      await until(() => got.messages.length >= 1, 3_000, "the message");
      await flush();
      expect(got.messages).to.deep.equal(["for a"]);
    });

    it("delivers nothing after unsubscribe resolved", async () => {
      const channel = freshChannel();
      const got = inbox();
      const unsubscribe = await a.bus.subscribe(channel, got.onMessage);
      await b.bus.publish(channel, "before");
      await until(() => got.messages.length === 1, 3_000, "the first message");
      await unsubscribe();
      await b.bus.publish(channel, "after");
      await flush();
      expect(got.messages).to.deep.equal(["before"]);
    });

    it("ends subscribed after interleaved subscribe/unsubscribe ending with subscribe", async () => {
      const channel = freshChannel();
      const got = inbox();
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 5; i++) {
        const unsubscribe = await a.bus.subscribe(channel, got.onMessage);
        pending.push(
          unsubscribe(),
          a.bus.subscribe(channel, got.onMessage).then((u) => u()),
        );
      }
      await Promise.all(pending);
      pending.length = 0;
      const first = a.bus.subscribe(channel, got.onMessage);
      pending.push(first.then((u) => u()));
      const last = a.bus.subscribe(channel, got.onMessage);
      await Promise.all([...pending, last]);
      await b.bus.publish(channel, "once");
      await until(() => got.messages.length >= 1, 3_000, "the message");
      await flush();
      expect(got.messages).to.deep.equal(["once"]);
    });

    it("ends unsubscribed after interleaved subscribe/unsubscribe ending with unsubscribe", async () => {
      const channel = freshChannel();
      const got = inbox();
      const rounds = Array.from({ length: 5 }, () =>
        a.bus.subscribe(channel, got.onMessage).then((unsubscribe) => unsubscribe()),
      );
      await Promise.all(rounds);
      await b.bus.publish(channel, "nobody");
      await flush();
      expect(got.messages).to.deep.equal([]);
    });

    it("ignores a stale unsubscribe once the channel was subscribed again", async () => {
      const channel = freshChannel();
      const old = inbox();
      const got = inbox();
      const stale = await a.bus.subscribe(channel, old.onMessage);
      await stale();
      await a.bus.subscribe(channel, got.onMessage);
      await stale();
      await b.bus.publish(channel, "still here");
      await until(() => got.messages.length === 1, 3_000, "the message");
      expect(old.messages).to.deep.equal([]);
    });

    it("rejects publish and subscribe after close, and close is idempotent", async () => {
      const channel = freshChannel();
      const got = inbox();
      await b.bus.subscribe(channel, got.onMessage);
      await Promise.all([a.bus.close(), a.bus.close()]);
      await a.bus.close();
      await expectRejection(a.bus.publish(channel, "late"));
      await expectRejection(a.bus.subscribe(channel, () => {}));
      await b.bus.publish(channel, "b still works");
      await until(() => got.messages.length === 1, 3_000, "b's message");
    });

    if (history) historyContract(() => ({ a: a.bus, b: b.bus }));

    it("stops delivering to a node once it closed", async () => {
      const channel = freshChannel();
      const got = inbox();
      const unsubscribe = await b.bus.subscribe(channel, got.onMessage);
      await b.bus.close();
      await unsubscribe(); // after close: a no-op, not an error
      await a.bus.publish(channel, "to a closed node");
      const probe = freshChannel("probe");
      const seen = inbox();
      await a.bus.subscribe(probe, seen.onMessage);
      await a.bus.publish(probe, "probe");
      await until(() => seen.messages.length === 1, 3_000, "the probe");
      expect(got.messages).to.deep.equal([]);
    });
  });
}

async function expectRejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(Error);
    return error as Error;
  }
  expect.fail("expected a rejection");
}

/** The history operations (SPEC §6), for a bus that has them. */
function historyContract(buses: () => { a: Bus; b: Bus }): void {
  describe("history", () => {
    let a: Bus & Required<Pick<Bus, "append" | "read">>;
    let b: typeof a;
    beforeEach(() => {
      const both = buses();
      expect(hasHistory(both.a) && hasHistory(both.b), "the bus has append and read").to.equal(
        true,
      );
      a = both.a as typeof a;
      b = both.b as typeof a;
    });

    it("appends and publishes in one step: the message gets its position as first field", async () => {
      const channel = freshChannel();
      const got = inbox();
      await a.subscribe(channel, got.onMessage);
      const first = await b.append(channel, '{"n":1}');
      const second = await b.append(channel, '{"n":2,"s":"x"}');
      expect(first.offset).to.equal(1);
      expect(second).to.deep.equal({ epoch: first.epoch, offset: 2 });
      await until(() => got.messages.length === 2, 3_000, "both messages");
      expect(got.messages).to.deep.equal([
        `{"pos":"${formatPosition(first)}","n":1}`,
        `{"pos":"${formatPosition(second)}","n":2,"s":"x"}`,
      ]);
    });

    it("reads a key's position without entries, the same epoch until its first append", async () => {
      const channel = freshChannel();
      const quiet = await a.read(channel);
      expect(quiet.top).to.equal(0);
      expect(quiet.entries).to.deep.equal([]);
      expect((await b.read(channel)).epoch).to.equal(quiet.epoch);
      expect(await b.append(channel, '{"n":1}')).to.deep.equal({ epoch: quiet.epoch, offset: 1 });
    });

    it("reads the entries after a position, as appended, on either node", async () => {
      const channel = freshChannel();
      const p1 = await a.append(channel, '{"n":1}');
      await b.append(channel, '{"n":2}');
      await a.append(channel, '{"n":3}');
      const read = await b.read(channel, p1);
      expect(read).to.deep.equal({
        epoch: p1.epoch,
        top: 3,
        entries: [
          { offset: 2, message: '{"n":2}' },
          { offset: 3, message: '{"n":3}' },
        ],
      });
      expect((await a.read(channel, { epoch: p1.epoch, offset: 3 })).entries).to.deep.equal([]);
      expect((await a.read(channel)).entries).to.deep.equal([]);
    });

    it("keeps the last `size` entries; a position of another epoch reads all of them", async () => {
      const channel = freshChannel();
      for (let n = 1; n <= 7; n += 1) await a.append(channel, `{"n":${n}}`);
      const read = await b.read(channel, { epoch: "elsewhere", offset: 1 });
      expect(read.top).to.equal(7);
      expect(read.entries.map((entry) => entry.offset)).to.deep.equal([3, 4, 5, 6, 7]);
      expect(read.entries[0]?.message).to.equal('{"n":3}');
    });

    it("gives concurrent appends from two nodes one order: positions as subscribers see them", async () => {
      const channel = freshChannel();
      const got = inbox();
      await a.subscribe(channel, got.onMessage);
      const sent = Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? a : b).append(channel, `{"i":${i}}`),
      );
      const positions = await Promise.all(sent);
      await until(() => got.messages.length === 40, 5_000, "all messages");
      const seen = got.messages.map((m) => JSON.parse(m).pos);
      const epoch = positions[0]?.epoch;
      expect(seen).to.deep.equal(Array.from({ length: 40 }, (_, i) => `${epoch}-${i + 1}`));
      expect(new Set(positions.map(formatPosition)).size).to.equal(40);
    });

    it("refuses to append what is not a JSON object's text", async () => {
      const channel = freshChannel();
      for (const bad of ["", "{}", "[1]", '"x"']) await expectRejection(a.append(channel, bad));
    });

    it("rejects append and read after close", async () => {
      const channel = freshChannel();
      await a.close();
      await expectRejection(a.append(channel, '{"n":1}'));
      await expectRejection(a.read(channel));
    });
  });
}
