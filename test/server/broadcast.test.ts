/**
 * The bus relay's echo handling alone (history off), with a fake bus and a
 * fake delivery: a node's own notify is delivered here exactly once, when
 * its echo comes back, or at once when the bus cannot bring it back, and a
 * late echo is then dropped.
 */
import { expect } from "chai";
import { topicOf } from "../../protocol/keys.js";
import { Broadcast, type BroadcastHost } from "../../server/broadcast.js";
import type { Bus, BusStatus } from "../../server/bus.js";
import { type NotifyMessage, parseTopicMessage } from "../../server/messages.js";

const TOPIC = topicOf("chat", '"a"');

interface Delivered {
  readonly value: unknown;
  readonly since: number | undefined;
}

function world(options: { status?: BusStatus; failPublish?: boolean; listened?: boolean } = {}) {
  const published: string[] = [];
  const delivered: Delivered[] = [];
  const errors: Error[] = [];
  let status: BusStatus = options.status ?? "ok";
  const bus = {
    kind: "shared",
    status: () => status,
    publish: async (_channel: string, text: string) => {
      if (options.failPublish) throw new Error("connection lost");
      published.push(text);
    },
  } as unknown as Bus;
  const delivery = {
    def: { name: "chat", keyId: (key: unknown) => JSON.stringify(key) },
    deliver: (
      _t: string,
      _k: unknown,
      value: unknown,
      _n: unknown,
      audience?: { since?: number },
    ) => delivered.push({ value, since: audience?.since }),
  };
  const host = {
    options: { bus, onError: (error: Error) => errors.push(error) },
    nodeId: "me",
    started: Promise.resolve(),
    closed: false,
    history: undefined,
    relay: undefined,
    registry: {
      generation: 4,
      listeners: (topic: string) =>
        options.listened !== false && topic === TOPIC ? {} : undefined,
    },
    interest: { subscribed: () => true },
    deliveries: new Map([["chat", delivery]]),
    unlisten: () => {},
  } as unknown as BroadcastHost;
  const broadcast = new Broadcast(host);
  const notify = (value: unknown) => broadcast.notify(delivery as never, TOPIC, "a", value, {});
  const echo = (index: number) => broadcast.onMessage(published[index] as string);
  const setStatus = (next: BusStatus) => {
    status = next;
  };
  return { broadcast, published, delivered, errors, notify, echo, setStatus };
}

describe("Broadcast: own notifies and their echo (history off)", () => {
  it("publishes once and delivers only when the echo comes back, to the listens of then", async () => {
    const w = world();
    await w.notify("v1");
    expect(w.published).to.have.length(1);
    const message = parseTopicMessage(w.published[0] as string) as NotifyMessage;
    expect(message).to.include({ type: "notify", node: "me", notifier: "chat", value: "v1" });
    expect(w.delivered).to.deep.equal([]);
    w.echo(0);
    expect(w.delivered).to.deep.equal([{ value: "v1", since: 4 }]);
    w.echo(0); // the same echo twice: not awaited any more, not delivered again
    expect(w.delivered).to.have.length(1);
  });

  it("delivers at once and drops the late echo when the bus is degraded", async () => {
    const w = world({ status: "degraded" });
    await w.notify("v1");
    expect(w.delivered.map((d) => d.value)).to.deep.equal(["v1"]);
    w.echo(0);
    expect(w.delivered).to.have.length(1);
  });

  it("delivers here and rejects with unavailable when the publish fails", async () => {
    const w = world({ failPublish: true });
    const error = await w.notify("v1").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.have.property("code", "unavailable");
    expect(w.delivered.map((d) => d.value)).to.deep.equal(["v1"]);
    expect(w.errors.map((e) => e.message)).to.deep.equal(["connection lost"]);
  });

  it("delivers an echo that never came on deliverAwaited, and drops it if it comes later", async () => {
    const w = world();
    await w.notify("v1");
    await w.notify("v2");
    w.broadcast.deliverAwaited(false); // not yet 2 s old: kept waiting
    expect(w.delivered).to.deep.equal([]);
    w.broadcast.deliverAwaited(true); // the bus was lost: every awaited one, in publish order
    expect(w.delivered.map((d) => d.value)).to.deep.equal(["v1", "v2"]);
    w.echo(1);
    w.echo(0);
    expect(w.delivered).to.have.length(2);
  });

  it("does not deliver its own echo when nobody here listened when it was notified", async () => {
    const w = world({ listened: false });
    await w.notify("v1");
    w.echo(0);
    expect(w.delivered).to.deep.equal([]);
  });

  it("delivers another node's notify to every listen there is now", () => {
    const w = world();
    const other = {
      type: "notify",
      node: "other",
      id: 1,
      notifier: "chat",
      key: "a",
      value: 9,
      notfor: {},
    };
    w.broadcast.onMessage(JSON.stringify(other));
    expect(w.delivered).to.deep.equal([{ value: 9, since: undefined }]);
  });

  it("reports a malformed bus message and delivers nothing", () => {
    const w = world();
    w.broadcast.onMessage('{"type":"notify","node":"other"}');
    w.broadcast.onMessage("not json");
    expect(w.delivered).to.deep.equal([]);
    expect(w.errors).to.have.length(2);
  });

  it("goes back to waiting for echoes once the bus is ok again", async () => {
    const w = world({ status: "degraded" });
    await w.notify("v1");
    w.setStatus("ok");
    await w.notify("v2");
    expect(w.delivered.map((d) => d.value)).to.deep.equal(["v1"]);
    w.echo(1);
    expect(w.delivered.map((d) => d.value)).to.deep.equal(["v1", "v2"]);
  });
});
