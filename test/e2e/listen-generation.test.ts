/**
 * SPEC §5.3 with a listen generation (issue 11): a notify reaches only the
 * listens there were when it was called, and still are when it is
 * delivered. Neither async `prepare` work ahead of it on its key nor a bus
 * that holds its echo lets it reach a session that listened (again) since.
 */
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { type Bus, InProcessBroker, inProcessBus } from "../../server/bus.js";
import { closeAll, listen, notifications, openRaw, post, startServer, until } from "../helpers.js";

const chatDef = defineNotifier<string, string>("chat");
const ANN = { "x-user": "ann" };

/** A shared in-process bus whose messages wait until `release()` (a slow bus, made exact). */
function heldBus(): { bus: Bus; release(): void; held(): number } {
  const queue: [string, string][] = [];
  class HeldBroker extends InProcessBroker {
    override publish(channel: string, message: string): void {
      queue.push([channel, message]);
    }
    release(): void {
      for (const [channel, message] of queue.splice(0)) super.publish(channel, message);
    }
  }
  const broker = new HeldBroker();
  return { bus: inProcessBus(broker), release: () => broker.release(), held: () => queue.length };
}

describe("listen generation (SPEC §5.3)", () => {
  afterEach(closeAll);

  it("a notify waiting behind an async prepare skips a session that unlistened and listened again", async () => {
    const gates: (() => void)[] = [];
    const { url, hub } = await startServer();
    const chat = hub.notifier(chatDef, {
      prepare: (identity, value) =>
        value.startsWith("slow")
          ? new Promise<string>((resolve) => gates.push(() => resolve(`${identity}:${value}`)))
          : `${identity}:${value}`,
    });
    const ann = await openRaw(`${url}/events`, ANN);
    await ann.event(0);
    const session = ann.session();
    expect((await listen(url, session, "chat", "k", ANN)).status).to.equal(204);
    const pending = chat.notify("k", "slow-1"); // prepare pending: the key is queued behind it
    await chat.notify("k", "v2"); // queued behind slow-1
    await until(() => gates.length === 1, 1_000, "the slow prepare");
    expect(
      (await post(`${url}/unlisten`, { session, notifier: "chat", key: "k" }, ANN)).status,
    ).to.equal(204);
    expect((await listen(url, session, "chat", "k", ANN)).status).to.equal(204);
    await chat.notify("k", "v3"); // after the listen again: for it
    gates[0]?.();
    await pending;
    await ann.event(1);
    expect(notifications(ann)).to.deep.equal([{ key: "k", data: "ann:v3" }]);
  });

  const variants: [string, { history?: false }][] = [
    ["no history: by listen generation", { history: false }],
    ["with history: by position", {}],
  ];
  for (const [what, options] of variants) {
    it(`the echo of a notify held by the bus skips a session that listened again since (${what})`, async () => {
      const held = heldBus();
      const { url, hub } = await startServer({ bus: held.bus, ...options });
      const chat = hub.notifier(chatDef);
      const ann = await openRaw(`${url}/events`, ANN);
      await ann.event(0);
      const session = ann.session();
      expect((await listen(url, session, "chat", "k", ANN)).status).to.equal(204);
      await chat.notify("k", "before"); // published, its echo held
      expect(held.held()).to.equal(1);
      await post(`${url}/unlisten`, { session, notifier: "chat", key: "k" }, ANN);
      expect((await listen(url, session, "chat", "k", ANN)).status).to.equal(204);
      await chat.notify("k", "after");
      held.release();
      await ann.event(1);
      await until(() => held.held() === 0, 1_000, "the bus to be empty");
      expect(notifications(ann)).to.deep.equal([{ key: "k", data: "after" }]);
    });

    it(`the echo of a notify called while nobody here listened reaches nobody who listened since (${what})`, async () => {
      const held = heldBus();
      const { url, hub } = await startServer({ bus: held.bus, ...options });
      const chat = hub.notifier(chatDef);
      const ann = await openRaw(`${url}/events`, ANN);
      await ann.event(0);
      const session = ann.session();
      // Subscribed once (so that the echo can come back), then nobody listens.
      expect((await listen(url, session, "chat", "k", ANN)).status).to.equal(204);
      await post(`${url}/unlisten`, { session, notifier: "chat", key: "k" }, ANN);
      expect((await listen(url, session, "chat", "other", ANN)).status).to.equal(204);
      await chat.notify("k", "while not listening");
      expect((await listen(url, session, "chat", "k", ANN)).status).to.equal(204);
      await chat.notify("k", "listening");
      held.release();
      await ann.event(1);
      await chat.notify("other", "marker"); // everything before it was delivered or dropped
      held.release();
      await ann.event(2);
      expect(notifications(ann)).to.deep.equal([
        { key: "k", data: "listening" },
        { key: "other", data: "marker" },
      ]);
    });
  }
});
