/**
 * The stream alone (client/stream.ts): one EventSource at a time, the
 * `session` event, the last event id, reconnection with backoff and jitter,
 * on a scripted EventSource and the fake clock: no server.
 */
import { expect } from "chai";
import { makeStream, type Stream, type StreamHost } from "../../client/stream.js";
import type { LostKey } from "../../protocol/wire.js";
import { type FakeClock, fakeClock } from "./clock.js";
import { ScriptedSource } from "./rig.js";

interface Harness {
  readonly stream: Stream;
  readonly sources: ScriptedSource[];
  /** What the host was told, in order. */
  readonly told: string[];
  readonly events: [string, unknown][];
  readonly clock: FakeClock;
  source(): ScriptedSource;
}

function harness(retry = 100, maxRetry = 1_000): Harness {
  const sources: ScriptedSource[] = [];
  const told: string[] = [];
  const events: [string, unknown][] = [];
  const clock = fakeClock(0.5);
  const lostText = (lost: LostKey[] | undefined) => (lost ? JSON.stringify(lost) : "-");
  const host: StreamHost = {
    opened: (session, opening, lost) => told.push(`opened ${session} ${opening} ${lostText(lost)}`),
    gap: (lost) => told.push(`gap ${lostText(lost)}`),
    event: (name, data) => events.push([name, data]),
    forgotten: () => told.push("forgotten"),
    connecting: () => told.push("connecting"),
    error: (error) => told.push(`error ${error.message}`),
  };
  const stream = makeStream(
    {
      base: "http://hub.test/notif",
      EventSource: class extends ScriptedSource {
        constructor(url: string) {
          super(url);
          sources.push(this);
        }
      },
      init: { withCredentials: false, headers: {}, fetch: globalThis.fetch },
      backoff: { retry, maxRetry, jitter: true },
      clock,
    },
    host,
  );
  return { stream, sources, told, events, clock, source: () => sources.at(-1) as ScriptedSource };
}

describe("stream (one EventSource and its reconnection)", () => {
  it("opens nothing until started, then one EventSource on <base>/events", () => {
    const { stream, sources } = harness();
    expect(sources).to.have.length(0);
    stream.start();
    expect(sources.map((s) => s.url)).to.deep.equal(["http://hub.test/notif/events"]);
    expect(stream.state).to.equal("connecting");
    expect(stream.session).to.equal(undefined);
  });

  it("opens on a session event: new, resumed, or gap; any other status counts as new", () => {
    const { stream, told, source } = harness();
    stream.start();
    source().open("s1", "new");
    expect(stream.state).to.equal("open");
    expect(stream.session).to.equal("s1");
    source().open("s1", "resumed");
    source().open("s2", "gap");
    source().emit("session", { session: "s3", status: "odd" });
    expect(told).to.deep.equal([
      "opened s1 new -",
      "opened s1 resumed -",
      "opened s2 gap -",
      "opened s3 new -",
    ]);
  });

  it("ignores a session event that is not JSON or names no session", () => {
    const { stream, told, source } = harness();
    stream.start();
    source().emit("session", { status: "new" });
    source().emit("session", { session: 7, status: "new" });
    source().emitText("session", "not json");
    expect(told).to.deep.equal([]);
    expect(stream.state).to.equal("connecting");
  });

  it("reports a gap on the open session in-stream, and one on another session as an opening", () => {
    const { stream, told, source } = harness();
    stream.start();
    source().open("s1", "new");
    const lost = [{ notifier: "chat", key: "a" }];
    source().emit("session", { session: "s1", status: "gap", lost });
    source().emit("session", { session: "s2", status: "gap", lost });
    expect(told).to.deep.equal([
      "opened s1 new -",
      `gap ${JSON.stringify(lost)}`,
      `opened s2 gap ${JSON.stringify(lost)}`,
    ]);
    expect(stream.session).to.equal("s2");
  });

  it("delivers the subscribed names only, from the current EventSource only", () => {
    const { stream, events, clock, source } = harness();
    stream.subscribe("chat");
    stream.start();
    source().open("s1", "new");
    source().emit("chat", { key: 1 });
    source().emit("doc", { key: 2 });
    stream.subscribe("doc"); // on the open EventSource too
    source().emit("doc", { key: 3 });
    const old = source();
    old.fail();
    clock.runNext();
    old.emit("chat", { key: 4 }); // replaced: not delivered
    source().emit("chat", { key: 5 });
    expect(events).to.deep.equal([
      ["chat", '{"key":1}'],
      ["doc", '{"key":3}'],
      ["chat", '{"key":5}'],
    ]);
  });

  it("reconnects after a failure, resuming from the last event id it saw", () => {
    const { stream, sources, told, clock, source } = harness();
    stream.subscribe("chat");
    stream.start();
    source().open("s1", "new");
    source().emit("chat", { key: 1 }); // id s1:1
    source().fail();
    expect(sources[0]?.readyState).to.equal(2, "the failed EventSource is closed");
    expect(stream.state).to.equal("connecting");
    expect(stream.session).to.equal("s1", "the session is kept, to resume");
    expect(told.at(-1)).to.equal("connecting");
    expect(sources).to.have.length(1, "not before the backoff delay");
    clock.runNext();
    expect(sources.map((s) => s.url)).to.deep.equal([
      "http://hub.test/notif/events",
      "http://hub.test/notif/events?lastEventId=s1%3A1",
    ]);
  });

  it("says connecting only when it was open", () => {
    const { stream, told, clock, source } = harness();
    stream.start();
    source().fail();
    clock.runNext();
    source().fail();
    expect(told).to.deep.equal([]);
    clock.runNext();
    source().open("s1", "new");
    source().fail();
    expect(told).to.deep.equal(["opened s1 new -", "connecting"]);
  });

  it("restart(fresh) forgets the session and the last event id: the next stream starts anew", () => {
    const { stream, sources, told, clock, source } = harness();
    stream.start();
    source().open("s1", "new");
    source().emit("session", { session: "s1", status: "resumed" });
    stream.restart(true);
    expect(stream.session).to.equal(undefined);
    expect(told.slice(-2)).to.deep.equal(["forgotten", "connecting"]);
    clock.runNext();
    expect(sources.at(-1)?.url).to.equal("http://hub.test/notif/events");
  });

  it("waits a jittered, doubling delay up to maxRetry, from retry again once healthy", () => {
    const { stream, clock, source } = harness(100, 1_000);
    stream.start();
    for (let i = 0; i < 6; i += 1) {
      source().fail();
      clock.runNext();
    }
    // random() is 0.5: half of min(maxRetry, retry × 2ⁿ)
    expect(clock.delays).to.deep.equal([50, 100, 200, 400, 500, 500]);
    stream.healthy();
    source().fail();
    expect(clock.delays.at(-1)).to.equal(50);
  });

  it("replaces a pending reconnection rather than adding one", () => {
    const { stream, sources, clock, source } = harness();
    stream.start();
    source().fail();
    stream.restart(false);
    expect(clock.pending()).to.equal(1);
    clock.runNext();
    expect(sources).to.have.length(2);
  });

  it("closes for good: the EventSource, the pending reconnection, the session", () => {
    const { stream, sources, clock, source } = harness();
    stream.start();
    source().open("s1", "new");
    source().fail();
    clock.runNext();
    expect(stream.close()).to.equal(true);
    expect(stream.close()).to.equal(false, "closed already");
    expect(stream.state).to.equal("closed");
    expect(stream.session).to.equal(undefined);
    expect(source().readyState).to.equal(2);
    stream.restart(true);
    expect(clock.pending()).to.equal(0);
    expect(sources).to.have.length(2);
  });

  it("a reconnection due after close opens nothing", () => {
    const { stream, sources, clock, source } = harness();
    stream.start();
    source().fail();
    expect(clock.pending()).to.equal(1);
    stream.close();
    expect(clock.pending()).to.equal(0);
    clock.advance(10_000);
    expect(sources).to.have.length(1);
  });
});
