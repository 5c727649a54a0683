/**
 * A node whose bus connection comes back and drops again at once (a
 * flapping connection): its history checks then read while the bus is
 * down and retry a while. Both found by the position model test
 * (test/reliability/positions.test.ts): on Redis, a `/listen` batch
 * answered 503 while one of its keys, its read queued behind such a check,
 * stayed listened (SPEC §4: a batch is all or nothing); in-process, the
 * check gave up and told `gap` for a key that had lost nothing (SPEC §5.8:
 * `gap` only when the history no longer has what was missed).
 */
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { InProcessBroker, inProcessBus } from "../../server/bus.js";
import { FlakyBus } from "../fixtures/flaky-bus.js";
import { closeAll, openSession, startServer, until } from "../helpers.js";
import { rawListen } from "./history.js";

const chat = defineNotifier<string, number>("chat");

describe("a node whose bus connection flaps", function () {
  this.timeout(20_000);
  afterEach(closeAll);

  /** Node B (on a FlakyBus) with session X listening to "c", and node A notifying. */
  async function nodes() {
    const broker = new InProcessBroker();
    const bus = new FlakyBus(broker);
    const errors: string[] = [];
    const a = await startServer({ bus: inProcessBus(broker) });
    const b = await startServer({
      bus,
      onError: (_error, context) => errors.push((context as { during: string }).during),
    });
    const na = a.hub.notifier(chat);
    b.hub.notifier(chat);
    const x = await openSession(b.url);
    const listened = await rawListen(b.url, { session: x.session(), notifier: "chat", key: "c" });
    expect(listened.status).to.equal(204);
    // back and down again in one tick: B's check of "c" reads while down, and retries a while
    bus.cut();
    bus.restore();
    bus.cut();
    return { bus, b, na, x, errors };
  }

  it("refuses a /listen batch with none of its keys listened, not even one whose read was still waiting", async () => {
    const { bus, b, na, x } = await nodes();
    const y = await openSession(b.url);
    const items = [
      { notifier: "chat", key: "b", since: null }, // read at once: fails
      { notifier: "chat", key: "c", since: null }, // read queued behind the check
    ];
    const answer = await rawListen(b.url, { session: y.session(), items });
    expect(answer.status, answer.text).to.equal(503);
    expect(b.hub.stats().listens, "only X's listen").to.equal(1);
    bus.restore();
    await na.notify("c", 1);
    await x.event(1);
    await until(() => b.hub.stats().keys === 1, 3_000, "B's listens settled");
    expect(b.hub.stats().listens, "only X's listen, still").to.equal(1);
    expect(y.events.slice(1), "Y listens to nothing").to.deep.equal([]);
  });

  it("tells no gap when its check could not read while the bus was down, and reads again once back", async () => {
    const { bus, na, x, errors } = await nodes();
    await until(() => errors.includes("history read"), 5_000, "the check to give up");
    bus.restore();
    await na.notify("c", 1);
    const event = await x.event(1);
    expect(event.event, event.data).to.equal("chat");
    expect(JSON.parse(event.data).data).to.equal(1);
  });
});
