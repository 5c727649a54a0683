/**
 * A notifier's delivery alone (server/delivery.ts), on real sessions and a
 * real registry without any stream: the order per key when `prepare` is
 * async, `prepare` once per identity, blocking, timeouts, and listens that
 * end or start while a notification waits.
 */
import { expect } from "chai";
import { defineNotifier } from "../../protocol/index.js";
import { topicOf } from "../../protocol/keys.js";
import type { SessionId } from "../../protocol/wire.js";
import { Delivery, type DeliveryHost } from "../../server/delivery.js";
import { identityIdOf } from "../../server/ids.js";
import { Registry } from "../../server/registry.js";
import { Session } from "../../server/session.js";
import { settle } from "../client/fakes.js";
import { until } from "../helpers.js";

const chat = defineNotifier<string, string>("chat");
const TOPIC = topicOf("chat", '"a"');

/** The values a session was sent, in order (its retention holds each event's frame text). */
function received(session: Session): unknown[] {
  const out: unknown[] = [];
  for (let seq = session.retention.first; seq <= session.retention.last; seq += 1) {
    const body = session.retention.get(seq);
    const data = body?.split("\n").find((line) => line.startsWith("data: "));
    if (data !== undefined) out.push((JSON.parse(data.slice(6)) as { data: unknown }).data);
  }
  return out;
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function setup(
  prepare?: (identity: string, value: string) => string | undefined | Promise<string | undefined>,
  prepareTimeout = 10_000,
) {
  const registry = new Registry<Session>();
  const errors: object[] = [];
  const host: DeliveryHost = {
    listeners: (topic) => registry.listeners(topic),
    onError: (_error, context) => errors.push(context),
    prepareTimeout,
    generation: () => registry.generation,
  };
  const delivery = new Delivery(chat, { prepare }, host);
  const join = (id: string, identity: string) => {
    const session = new Session(id as SessionId, identity, identityIdOf(identity), 100);
    registry.add(session);
    registry.listen(session, TOPIC);
    return session;
  };
  const notify = (value: string) => delivery.deliver(TOPIC, "a", value, {});
  return { registry, delivery, errors, join, notify };
}

describe("Delivery (a notifier's fan-out)", () => {
  it("serialises a value once and sends it to every listener, without prepare", () => {
    const w = setup();
    const ann = w.join("s1", "ann");
    const bob = w.join("s2", "bob");
    w.notify("hi");
    expect(received(ann)).to.deep.equal(["hi"]);
    expect(received(bob)).to.deep.equal(["hi"]);
    expect(ann.retention.get(1)).to.equal(bob.retention.get(1)); // one body for all
  });

  it("calls prepare once per identity, not per session, and blocks on undefined", () => {
    const calls: string[] = [];
    const w = setup((identity, value) => {
      calls.push(identity);
      return identity === "eve" ? undefined : `${value} for ${identity}`;
    });
    const ann1 = w.join("s1", "ann");
    const ann2 = w.join("s2", "ann");
    const eve = w.join("s3", "eve");
    w.notify("hi");
    expect(calls.sort()).to.deep.equal(["ann", "eve"]);
    expect(received(ann1)).to.deep.equal(["hi for ann"]);
    expect(received(ann2)).to.deep.equal(["hi for ann"]);
    expect(received(eve)).to.deep.equal([]);
  });

  it("keeps the order of a key when an earlier async prepare resolves after a later one", async () => {
    const waits = new Map<string, ReturnType<typeof deferred<string>>>();
    const w = setup((_identity, value) => {
      const d = deferred<string>();
      waits.set(value, d);
      return d.promise;
    });
    const ann = w.join("s1", "ann");
    w.notify("first");
    w.notify("second");
    waits.get("second")?.resolve("second");
    await settle();
    expect(received(ann)).to.deep.equal([]); // "second" waits behind "first"
    waits.get("first")?.resolve("first");
    await settle();
    expect(received(ann)).to.deep.equal(["first", "second"]);
  });

  it("queues a sync notification behind an async one on the same key", async () => {
    let async = true;
    const first = deferred<string>();
    const w = setup((_identity, value) => (async ? first.promise : value));
    const ann = w.join("s1", "ann");
    w.notify("first");
    async = false;
    w.notify("second");
    expect(received(ann)).to.deep.equal([]);
    first.resolve("first");
    await settle();
    expect(received(ann)).to.deep.equal(["first", "second"]);
  });

  it("does not send a waiting notification to a session that unlistened meanwhile", async () => {
    const wait = deferred<string>();
    const w = setup(() => wait.promise);
    const ann = w.join("s1", "ann");
    const bob = w.join("s2", "bob");
    w.notify("hi");
    w.registry.unlisten(ann, TOPIC);
    wait.resolve("hi");
    await settle();
    expect(received(ann)).to.deep.equal([]);
    expect(received(bob)).to.deep.equal(["hi"]);
  });

  it("does not send to a listen made after the notify, even while it waits (SPEC 5.3)", async () => {
    const wait = deferred<string>();
    const w = setup((_identity, value) => (value === "early" ? wait.promise : value));
    const ann = w.join("s1", "ann");
    w.notify("early");
    const late = w.join("s2", "ann");
    w.notify("later");
    wait.resolve("early");
    await settle();
    expect(received(ann)).to.deep.equal(["early", "later"]);
    expect(received(late)).to.deep.equal(["later"]);
  });

  it("counts a thrown or rejected prepare as blocking that identity only, and reports it", async () => {
    const w = setup((identity, value) => {
      if (identity === "eve") throw new Error("boom");
      if (identity === "mal") return Promise.reject(new Error("later boom"));
      return value;
    });
    const ann = w.join("s1", "ann");
    const eve = w.join("s2", "eve");
    const mal = w.join("s3", "mal");
    w.notify("hi");
    await settle();
    expect(received(ann)).to.deep.equal(["hi"]);
    expect(received(eve)).to.deep.equal([]);
    expect(received(mal)).to.deep.equal([]);
    expect(w.errors).to.have.length(2);
    expect(w.delivery.counts.prepareErrors).to.equal(2);
  });

  it("stops waiting for a prepare past prepareTimeout, and the key goes on", async () => {
    const w = setup((_identity, value) => (value === "stuck" ? new Promise(() => {}) : value), 20);
    const ann = w.join("s1", "ann");
    w.notify("stuck");
    w.notify("next");
    expect(received(ann)).to.deep.equal([]);
    await until(() => received(ann).length > 0, 2_000, "the notification after the stuck one");
    expect(received(ann)).to.deep.equal(["next"]);
    expect(w.errors).to.have.length(1);
  });
});
