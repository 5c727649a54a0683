/** The notifying node's own listeners on a shared bus, when the bus misbehaves. */
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { type Bus, InProcessBroker, inProcessBus } from "../../server/bus.js";
import { closeAll, listen, notifications, openRaw, startServer, until } from "../helpers.js";

const chat = defineNotifier<string, string>("chat");

/** An in-process shared bus with faults switched on per test. */
function faultyBus(faults: {
  refuseTopics?: boolean;
  dropTopics?: boolean;
  publishFails?: boolean;
}): Bus {
  const bus = inProcessBus(new InProcessBroker());
  return {
    ...bus,
    kind: bus.kind,
    start: (context) => bus.start(context),
    status: () => bus.status(),
    close: () => bus.close(),
    async subscribe(channel, onMessage) {
      const topic = channel.startsWith("t:");
      if (topic && faults.refuseTopics)
        throw new Error("NOPERM this user has no access to channels");
      return bus.subscribe(channel, (message) => {
        if (!(topic && faults.dropTopics)) onMessage(message);
      });
    },
    async publish(channel, message) {
      await bus.publish(channel, message);
      if (faults.publishFails) {
        await new Promise((resolve) => setTimeout(resolve, 5)); // the echo comes back first
        throw new Error("publish timed out");
      }
    },
    // with history the hub publishes through append: the same faults
    async append(channel, message) {
      const pos = await (bus.append as NonNullable<Bus["append"]>)(channel, message);
      if (faults.publishFails) {
        await new Promise((resolve) => setTimeout(resolve, 5)); // the echo comes back first
        throw new Error("publish timed out");
      }
      return pos;
    },
  };
}

async function oneListener(bus: Bus) {
  const errors: Error[] = [];
  const server = await startServer({ bus, onError: (error) => errors.push(error) });
  const n = server.hub.notifier(chat);
  const raw = await openRaw(`${server.url}/events`);
  await raw.event(0);
  expect((await listen(server.url, raw.session(), "chat", "k")).status).to.equal(204);
  return { n, raw, errors };
}

describe("a node's own listeners on a misbehaving shared bus", () => {
  afterEach(closeAll);

  it("delivers locally at once when the bus refused the key's subscription", async () => {
    const { n, raw, errors } = await oneListener(faultyBus({ refuseTopics: true }));
    expect(errors.map((e) => e.message)).to.deep.equal([
      "NOPERM this user has no access to channels",
    ]);
    await n.notify("k", "still here");
    await raw.event(1, 1_000);
    expect(notifications(raw)).to.deep.equal([{ key: "k", data: "still here" }]);
  });

  it("delivers its own notify itself when the echo never comes back", async () => {
    const { n, raw } = await oneListener(faultyBus({ dropTopics: true }));
    await n.notify("k", "late but there");
    await raw.event(1, 5_000);
    expect(notifications(raw)).to.deep.equal([{ key: "k", data: "late but there" }]);
  });

  it("does not deliver twice when a publish fails after its echo came back", async () => {
    const { n, raw } = await oneListener(faultyBus({ publishFails: true }));
    let rejected: unknown;
    await n.notify("k", "once").catch((error) => {
      rejected = error;
    });
    expect((rejected as { code?: string }).code).to.equal("unavailable");
    await n.notify("k", "marker").catch(() => {});
    await until(() => notifications(raw).some((e) => e.data === "marker"), 3_000, "the marker");
    expect(notifications(raw).map((e) => e.data)).to.deep.equal(["once", "marker"]);
  });
});
