/**
 * Anything that arrives from the bus (SPEC §5.6, issue 11): a reply with an
 * error code this version does not know, and a random fuzz of messages
 * (garbage, wrong types, unknown codes and types, huge, deeply nested) on
 * every channel two hubs use, their node channels and their topic channels,
 * on the in-process bus and on real Redis. Each node answers what it can
 * with a code of the protocol, reports the rest to onError, and serves on:
 * a bystander session still gets its notifications, listens still work
 * locally and across nodes, no unhandled rejection or exception.
 */
import { expect } from "chai";
import fc from "fast-check";
import { createClient } from "redis";
import { defineNotifier } from "../../protocol/contract.js";
import { ERROR_STATUS, isErrorCode } from "../../protocol/wire.js";
import { type Bus, InProcessBroker, inProcessBus } from "../../server/bus.js";
import { redisBus } from "../../server/redis.js";
import { redisNames } from "../../server/redis-history.js";
import { REDIS_URL, requireRedis } from "../bus/helpers.js";
import { closeAll, listen, openRaw, post, startServer, until } from "../helpers.js";

const chatDef = defineNotifier<string, string>("chat");
const docDef = defineNotifier<{ id: number }, string>("doc");

interface World {
  /** Publishes raw text on a hub channel (`n:<node>`, `t:<topic>`), as another node would. */
  inject(channel: string, text: string): Promise<void>;
  /** Hears a channel, as another node would. */
  hear(channel: string, onMessage: (text: string) => void): Promise<void>;
  bus(): Bus;
  close(): Promise<void>;
}

function inProcessWorld(): World {
  const broker = new InProcessBroker();
  return {
    inject: async (channel, text) => broker.publish(channel, text),
    hear: async (channel, onMessage) => {
      broker.subscribe(channel, onMessage);
    },
    bus: () => inProcessBus(broker),
    close: async () => {},
  };
}

async function redisWorld(): Promise<World> {
  const prefix = `sse-notif-test:busfuzz:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`;
  const raw = createClient({ url: REDIS_URL });
  raw.on("error", () => {});
  await raw.connect();
  const sub = raw.duplicate();
  sub.on("error", () => {});
  await sub.connect();
  return {
    inject: async (channel, text) => {
      await raw.publish(redisNames(prefix, channel).channel, text);
    },
    hear: async (channel, onMessage) => {
      await sub.subscribe(redisNames(prefix, channel).channel, onMessage);
    },
    bus: () => redisBus({ url: REDIS_URL, prefix }),
    close: async () => {
      await Promise.all([raw.quit(), sub.quit()]);
    },
  };
}

/** Two hubs on one bus: A holds the bystander's session, B forwards requests to A. */
async function twoNodes(world: World) {
  const errors: Error[] = [];
  const onError = (error: Error) => errors.push(error);
  const options = { bus: world.bus(), onError, requestTimeout: 2_000 };
  const a = await startServer<string | null>(options);
  const b = await startServer<string | null>({ ...options, bus: world.bus() });
  const chatA = a.hub.notifier(chatDef);
  b.hub.notifier(chatDef);
  for (const hub of [a.hub, b.hub]) {
    hub.notifier(docDef, { prepare: (identity, value) => `${identity}:${value}` });
  }
  const bystander = await openRaw(`${a.url}/events`, { "x-user": "carl" });
  await bystander.event(0);
  const session = bystander.session();
  expect((await listen(a.url, session, "chat", "k", { "x-user": "carl" })).status).to.equal(204);
  // Across nodes: listened through B, held by A.
  expect((await listen(b.url, session, "doc", { id: 1 }, { "x-user": "carl" })).status).to.equal(
    204,
  );
  const onB = await openRaw(`${b.url}/events`);
  await onB.event(0);
  const nodeA = session.split(".")[0] ?? "";
  const nodeB = onB.session().split(".")[0] ?? "";
  /** Ids of the requests B forwarded to the ghost node, in order. */
  const ghostIds: number[] = [];
  await world.hear("n:ghost", (text) => {
    const message = JSON.parse(text) as { type: string; node: string; id: number };
    if (message.type === "request" && message.node === nodeB) ghostIds.push(message.id);
  });
  return { a, b, chatA, bystander, session, nodeA, nodeB, errors, ghostIds };
}

type Nodes = Awaited<ReturnType<typeof twoNodes>>;

/** The nodes still serve: a notify reaches the bystander, listens work here and across nodes. */
async function stillServing(nodes: Nodes, round: number): Promise<void> {
  const { a, b, chatA, bystander, session } = nodes;
  const marker = `alive-${round}`;
  await chatA.notify("k", marker);
  await until(
    // with its position (history on), as the notify went through the bus's history
    () =>
      bystander.events.some((e) =>
        new RegExp(`^\\{"key":"k","data":"${marker}","pos":"[0-9a-z]+-\\d+"\\}$`).test(e.data),
      ),
    3_000,
    `notification ${marker}`,
  );
  const carl = { "x-user": "carl" };
  expect((await listen(a.url, session, "chat", `x${round}`, carl)).status).to.equal(204);
  expect((await listen(b.url, session, "chat", `y${round}`, carl)).status).to.equal(204);
  expect((await fetch(`${b.url}/stats`)).status).to.equal(200);
}

/**
 * Requests forwarded by B to a node that does not exist, so that only our
 * injected replies answer them; resolves once B sent them all, with their ids.
 */
async function ghostRequests(nodes: Nodes, count: number) {
  const before = nodes.ghostIds.length;
  const answers = Array.from({ length: count }, (_, i) =>
    post(`${nodes.b.url}/listen`, {
      session: `ghost.G${i}AAAAAAAAAAAAAAAAAAAAAAA`,
      notifier: "chat",
      key: "k",
    }),
  );
  await until(() => nodes.ghostIds.length === before + count, 3_000, "B to forward the requests");
  return { ids: nodes.ghostIds.slice(before), answers: Promise.all(answers) };
}

// ------------------------------------------------------------ arbitraries

const KNOWN = Object.keys(ERROR_STATUS);
const code = fc.oneof(
  fc.constantFrom(...KNOWN),
  fc.constantFrom("brand_new_code", "", "constructor", "__proto__", "toString", "hasOwnProperty"),
  fc.string({ maxLength: 20 }),
);
const junk = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom<unknown>(undefined, Number.NaN, -1, 2 ** 60, "", [], {}),
);
const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

function nodeMessage(nodes: Nodes, ids: fc.Arbitrary<number>) {
  const error = fc.oneof(
    fc.constant(undefined),
    fc.record({ code, message: fc.oneof(fc.string({ maxLength: 40 }), junk) }),
    junk,
  );
  const request = fc.oneof(
    junk,
    fc.record({
      op: fc.oneof(fc.constantFrom("listen", "unlisten", "close"), junk),
      session: fc.oneof(
        fc.constant(`${nodes.nodeA}.BBBBBBBBBBBBBBBBBBBBBBBB`),
        fc.constant(`${nodes.nodeB}.CCCCCCCCCCCCCCCCCCCCCCCC`),
        junk,
      ),
      identityId: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 10 }), junk),
      items: fc.oneof(fc.array(fc.record({ notifier: fc.string(), key: junk })), junk),
    }),
  );
  return fc.record({
    type: fc.oneof(fc.constantFrom("request", "reply"), fc.constantFrom("notify", "x"), junk),
    node: fc.oneof(fc.constantFrom(nodes.nodeA, nodes.nodeB, "ghost"), junk),
    id: fc.oneof(ids, junk),
    request,
    error,
  });
}

function topicMessage(nodes: Nodes) {
  return fc.record({
    type: fc.oneof(fc.constantFrom("notify", "unlistenIdentity"), junk),
    node: fc.oneof(fc.constantFrom(nodes.nodeA, nodes.nodeB, "other"), junk),
    id: fc.oneof(fc.integer({ min: 0, max: 100 }), junk),
    notifier: fc.oneof(fc.constantFrom("chat", "doc", "nope"), junk),
    key: fc.oneof(fc.constantFrom<unknown>("k", { id: 1 }, { id: "1" }), junk),
    value: junk,
    notfor: fc.oneof(fc.constantFrom<unknown>({}, { session: 5 }, { identity: [] }), junk),
    identity: fc.oneof(fc.string({ maxLength: 10 }), junk),
  });
}

/** One message's text: structured (with a field dropped now and then), raw text, or huge. */
function text(structured: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: structured.map((m) => JSON.stringify(m)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(structured, fc.string({ maxLength: 8 }))
        .map(([m, drop]) =>
          JSON.stringify(Object.fromEntries(Object.entries(m).slice(drop.length % 5))),
        ),
    },
    fc.string({ maxLength: 50 }),
    fc.json(),
    fc.constantFrom("", "null", "{", "[]", '"reply"', deep(200_000), "x".repeat(2_000_000)),
    structured.map((m) => JSON.stringify({ ...m, value: "v".repeat(1_000_000) })),
  );
}

function suite(name: string, makeWorld: () => Promise<World>, runs: number) {
  describe(`bus messages from a hostile or newer node: ${name}`, function () {
    this.timeout(120_000);
    let world: World;
    let nodes: Nodes;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);

    beforeEach(async () => {
      unhandled.length = 0;
      process.on("unhandledRejection", onUnhandled);
      world = await makeWorld();
      nodes = await twoNodes(world);
    });
    afterEach(async () => {
      process.off("unhandledRejection", onUnhandled);
      await closeAll();
      await world.close();
    });

    it("answers a reply with an unknown error code as 500 internal, and serves on", async () => {
      const { ids, answers } = await ghostRequests(nodes, 2);
      const codes = ["brand_new", "too_many_keys"];
      for (const [i, id] of ids.entries()) {
        const error = { code: codes[i], message: "from a newer node" };
        await world.inject(
          `n:${nodes.nodeB}`,
          JSON.stringify({ type: "reply", node: "ghost", id, error }),
        );
      }
      const [unknown, known] = await answers;
      expect(unknown?.status).to.equal(500);
      const body = unknown?.body as { error: { code: string; message: string } };
      expect(body.error.code).to.equal("internal");
      expect(body.error.message).to.equal(
        'the node holding this session failed ("brand_new"): from a newer node',
      );
      expect(known).to.deep.equal({
        status: 429,
        body: { error: { code: "too_many_keys", message: "from a newer node" } },
      });
      await stillServing(nodes, 0);
      expect(unhandled).to.deep.equal([]);
    });

    it("serves on after a random fuzz on every channel the hubs use", async () => {
      const { nodeA, nodeB } = nodes;
      const channels = [`n:${nodeA}`, `n:${nodeB}`, 't:chat:"k"', 't:doc:{"id":1}', 't:chat:"x"'];
      let round = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.tuple(
              fc.nat(channels.length - 1),
              text(nodeMessage(nodes, fc.integer({ min: 0, max: 2 }))), // 0-2: a ghost request's id
              text(topicMessage(nodes)),
            ),
            { minLength: 1, maxLength: 12 },
          ),
          fc.array(code, { minLength: 3, maxLength: 3 }),
          async (messages, lastCodes) => {
            round += 1;
            const ghosts = await ghostRequests(nodes, 3);
            const ghostId = (text: string) =>
              text.replaceAll(/"id":([0-2])\b/g, (_, i) => `"id":${ghosts.ids[Number(i)]}`);
            for (const [pick, forNode, forTopic] of messages) {
              const channel = channels[pick] as string;
              await world.inject(channel, channel.startsWith("n:") ? ghostId(forNode) : forTopic);
            }
            // Every ghost request gets an answer: the fuzz's own, or this one.
            for (const [i, c] of lastCodes.entries()) {
              const error = { code: c, message: "m" };
              const reply = { type: "reply", node: "ghost", id: ghosts.ids[i], error };
              await world.inject(`n:${nodeB}`, JSON.stringify(reply));
            }
            for (const { status, body } of await ghosts.answers) {
              if (status === 204) continue;
              const got = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
              expect(isErrorCode(got), `code ${String(got)}`).to.equal(true);
              expect(status).to.equal(ERROR_STATUS[got as keyof typeof ERROR_STATUS]);
            }
            await stillServing(nodes, round);
            expect(unhandled).to.deep.equal([]);
          },
        ),
        { numRuns: runs, seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined },
      );
      expect(nodes.errors.length).to.be.greaterThan(0); // malformed messages were reported
    });
  });
}

suite("in-process", async () => inProcessWorld(), 40);

describe("with Redis", () => {
  before(requireRedis);
  suite("Redis", redisWorld, 15);
});
