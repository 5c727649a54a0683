/**
 * A `/listen` batch refused because its node cannot read the history (its
 * bus connection is down) is all or nothing (SPEC §4): found by the
 * position model test (test/reliability/positions.test.ts) on Redis, where
 * a history check still retrying after an outage made one item's read wait
 * while another item's failed at once, and the 503 went out with the
 * waiting key still listened (it then got notifications, or stayed listened
 * for good once its read went through).
 */
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { InProcessBroker, inProcessBus } from "../../server/bus.js";
import { FlakyBus } from "../fixtures/flaky-bus.js";
import { closeAll, openSession, startServer, until } from "../helpers.js";
import { rawListen } from "./history.js";

const chat = defineNotifier<string, number>("chat");

describe("a /listen batch refused while the node's bus is down", function () {
  this.timeout(20_000);
  afterEach(closeAll);

  it("leaves none of its keys listened, not even one whose history read was still waiting", async () => {
    const broker = new InProcessBroker();
    const bus = new FlakyBus(broker);
    const a = await startServer({ bus: inProcessBus(broker) });
    const b = await startServer({ bus });
    const na = a.hub.notifier(chat);
    b.hub.notifier(chat);
    const x = await openSession(b.url);
    const first = await rawListen(b.url, { session: x.session(), notifier: "chat", key: "c" });
    expect(first.status).to.equal(204);
    // back and down again in one tick: B's check of "c" reads while down, and retries a while
    bus.cut();
    bus.restore();
    bus.cut();
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
    await x.event(2); // X: the gap its check told, then the notification
    await until(() => b.hub.stats().keys === 1, 3_000, "B's listens settled");
    expect(b.hub.stats().listens, "only X's listen, still").to.equal(1);
    expect(y.events.slice(1), "Y listens to nothing").to.deep.equal([]);
  });
});
