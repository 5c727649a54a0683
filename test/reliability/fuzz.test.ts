/**
 * Bad input on every endpoint (issue 6, SPEC §4 and §5.6): random bodies,
 * content types, sizes, unicode and huge keys, wrong types, unknown and
 * foreign sessions, judged by an oracle written from SPEC §4's table and its
 * order of faults (content type, size, JSON shape, session, identity,
 * notifier, key, authorize, limit). Every answer is the oracle's status and
 * code, never a 500; the server never crashes; a bystander session's listens
 * and delivery never change.
 */
import { expect } from "chai";
import fc from "fast-check";
import { defineNotifier } from "../../protocol/contract.js";
import { closeAll, startServer, type TestServer } from "../helpers.js";
import { sortedJson } from "./model.js";
import { type Answer, openSse, request, type SseConn, waitFor } from "./sse.js";

const MAX_BODY = 2_048;
const MAX_KEYS = 3;
/** The default maxKeyBytes: the fuzz's long keys (up to 3_000 characters) cross it. */
const MAX_KEY_BYTES = 1_024;
const CODES: Record<number, string> = {
  400: "bad_request",
  403: "forbidden",
  404: "unknown_notifier",
  410: "unknown_session",
  413: "too_large",
  415: "unsupported_media_type",
  429: "too_many_keys",
};

type Path = "/listen" | "/unlisten" | "/close";
type User = "ann" | "bob" | null;

/** The state the oracle tracks: ann's session, its listens, and the sessions that exist. */
interface State {
  ann: string;
  annTopics: Set<string>;
  carl: string;
  dead: string[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** All numbers finite (JSON.parse turns 1e999 into Infinity, which is no JSON key). */
function finite(value: unknown): boolean {
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(finite);
  if (isRecord(value)) return Object.values(value).every(finite);
  return true;
}

const NOTIFIERS = new Set(["chat", "doc", "free"]);

/** SPEC §4, step by step: the answer a request must get, and what it does to ann's listens. */
function oracle(
  state: State,
  path: Path,
  type: string | undefined,
  body: Buffer,
  user: User,
): { status: number; apply?: () => void } {
  const mediaType = type?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/json") return { status: 415 };
  if (body.length > MAX_BODY) return { status: 413 };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return { status: 400 };
  }
  if (!isRecord(parsed)) return { status: 400 };
  const session = parsed.session;
  if (typeof session !== "string" || !/^[A-Za-z0-9_.-]{1,128}$/.test(session)) {
    return { status: 400 };
  }
  let items: { notifier: string; key: unknown }[] = [];
  if (path !== "/close") {
    const raw = "items" in parsed ? parsed.items : [parsed];
    if (!Array.isArray(raw) || raw.length === 0) return { status: 400 };
    for (const item of raw) {
      if (!isRecord(item) || typeof item.notifier !== "string" || !("key" in item)) {
        return { status: 400 };
      }
    }
    items = raw as { notifier: string; key: unknown }[];
  }
  const owner = session === state.ann ? "ann" : session === state.carl ? "carl" : undefined;
  if (owner === undefined) return { status: 410 };
  if (owner !== user) return { status: 403 };
  if (path === "/close") return { status: 204, apply: () => closeAnn(state) };
  if (items.some((item) => !NOTIFIERS.has(item.notifier))) return { status: 404 };
  for (const { notifier, key } of items) {
    if (!finite(key) || (notifier === "chat" && typeof key !== "string")) return { status: 400 };
    if (Buffer.byteLength(sortedJson(key)) > MAX_KEY_BYTES) return { status: 400 };
  }
  const topics = items.map(({ notifier, key }) => `${notifier}:${sortedJson(key)}`);
  if (path === "/unlisten") {
    return {
      status: 204,
      apply: () => {
        for (const topic of topics) state.annTopics.delete(topic);
      },
    };
  }
  for (const { notifier, key } of items) {
    if (notifier === "chat" && key === "secret") return { status: 403 };
    if (notifier === "doc" && (key === "boom" || sortedJson(key) === '{"id":0}')) {
      return { status: 403 };
    }
  }
  const fresh = new Set(topics.filter((t) => !state.annTopics.has(t)));
  if (state.annTopics.size + fresh.size > MAX_KEYS) return { status: 429 };
  return {
    status: 204,
    apply: () => {
      for (const topic of topics) state.annTopics.add(topic);
    },
  };
}

function closeAnn(state: State): void {
  state.dead.push(state.ann);
  state.ann = "";
  state.annTopics.clear();
}

// ------------------------------------------------------------ arbitraries

const unicode = fc.string({ unit: "grapheme", maxLength: 30 });
const nasty = fc.string({
  unit: fc.constantFrom(
    "\n",
    "\r",
    "\0",
    "\u2028",
    "\ud800",
    "data:",
    "id:",
    ":",
    "é",
    "😀",
    '"',
    "\\",
  ),
  maxLength: 20,
});
const key = fc.oneof(
  fc.constantFrom<unknown>("a", "b", "secret", "boom", { id: 0 }, { id: 1 }, 0, -0, null, [], {}),
  fc.jsonValue({ maxDepth: 3 }),
  unicode,
  nasty,
  fc.integer({ min: 100, max: 3_000 }).map((n) => "k".repeat(n)),
  fc.constant("__INFINITY__"), // becomes 1e999 in the text
);
const notifier = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<unknown>("chat", "doc", "free") },
  fc.constantFrom<unknown>("Chat", "nope", "session", "", 5, null, ["chat"], { name: "chat" }),
  unicode,
);
const item = fc.oneof(
  { weight: 6, arbitrary: fc.record({ notifier, key }) },
  fc.record({ notifier }), // no key
  fc.record({ key }), // no notifier
  fc.constantFrom<unknown>(null, "chat", 5, [], [{ notifier: "chat", key: "a" }]),
);

type SessionPick = "ann" | "carl" | "dead" | "unknown" | "malformed" | "number" | "missing";
const sessionPick = fc.oneof(
  { weight: 6, arbitrary: fc.constant<SessionPick>("ann") },
  { weight: 2, arbitrary: fc.constant<SessionPick>("carl") },
  fc.constantFrom<SessionPick>("dead", "unknown", "malformed", "number", "missing"),
);

interface Shape {
  readonly session: SessionPick;
  readonly single: { notifier: unknown; key: unknown } | undefined;
  readonly items: unknown;
  readonly pad: number;
}

const shape: fc.Arbitrary<Shape> = fc.record({
  session: sessionPick,
  single: fc.option(fc.record({ notifier, key }), { freq: 3 }).map((v) => v ?? undefined),
  items: fc.oneof(
    fc.constant(undefined),
    fc.array(item, { maxLength: 4 }),
    fc.constantFrom<unknown>("chat", {}, null, 3),
  ),
  pad: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 3_000 })),
});

/** Well-formed listens of the notifiers that exist, so that authorize, limits and unlisten are reached. */
const wellFormed = fc.record({
  session: sessionPick,
  single: fc.constant(undefined),
  items: fc.array(
    fc.record({
      notifier: fc.constantFrom<unknown>("chat", "doc", "free"),
      key: fc.constantFrom<unknown>("a", "b", "c", "secret", "boom", { id: 0 }, { id: 1 }, 1, [1]),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  pad: fc.constant(0),
});

type Body =
  | { readonly kind: "shape"; readonly shape: Shape }
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "bytes"; readonly bytes: Uint8Array }
  | { readonly kind: "cut"; readonly shape: Shape; readonly at: number };

const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("shape" as const), shape }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("shape" as const), shape: wellFormed }) },
  fc.record({
    kind: fc.constant("text" as const),
    text: fc.oneof(fc.string(), fc.json(), unicode, fc.constantFrom("", "null", "[]", "{}", '""')),
  }),
  fc.record({ kind: fc.constant("bytes" as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant("cut" as const), shape, at: fc.nat() }),
);

const contentType = fc.oneof(
  { weight: 10, arbitrary: fc.constant<string | undefined>("application/json") },
  fc.constantFrom<string | undefined>(
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/json;",
    "Application/Json ; charset=latin1",
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=----x",
    "application/jsonx",
    "application/json-patch+json",
    "application/ld+json",
    "json",
    "",
    undefined,
  ),
  fc.string({ unit: fc.constantFrom("a", "/", ";", " ", "=", "j", "s", "o", "n"), maxLength: 20 }),
);

function sessionValue(pick: SessionPick, state: State): unknown {
  switch (pick) {
    case "ann":
      return state.ann || "gone.session";
    case "carl":
      return state.carl;
    case "dead":
      return state.dead.at(-1) ?? "never.existed";
    case "unknown":
      return `${state.carl.split(".")[0]}.AAAAAAAAAAAAAAAAAAAAAAAA`;
    case "malformed":
      return `${state.ann} `;
    case "number":
      return 42;
    case "missing":
      return undefined;
  }
}

function render(b: Body, state: State): Buffer {
  if (b.kind === "text") return Buffer.from(b.text);
  if (b.kind === "bytes") return Buffer.from(b.bytes);
  const { shape: s } = b;
  const value: Record<string, unknown> = { session: sessionValue(s.session, state) };
  if (s.single) Object.assign(value, s.single);
  if (s.items !== undefined) value.items = s.items;
  if (s.pad > 0) value.pad = "p".repeat(s.pad);
  const text = JSON.stringify(value).replaceAll('"__INFINITY__"', "1e999");
  return Buffer.from(b.kind === "cut" ? text.slice(0, b.at % Math.max(1, text.length)) : text);
}

// ------------------------------------------------------------------ setup

interface Setup {
  server: TestServer<string | null>;
  state: State;
  carlConn: SseConn;
  free: ReturnType<TestServer<string | null>["hub"]["notifier"]>;
  openAnn(): Promise<void>;
}

async function stream(url: string, user: string): Promise<{ conn: SseConn; session: string }> {
  const conn = await openSse(`${url}/events`, { headers: { "x-user": user } });
  await waitFor(() => conn.events.length > 0, 3_000, "the session event");
  return { conn, session: (JSON.parse(conn.events[0]?.data ?? "") as { session: string }).session };
}

async function setup(): Promise<Setup> {
  const server = await startServer<string | null>({
    maxBodyBytes: MAX_BODY,
    maxKeysPerSession: MAX_KEYS,
    onError: () => {},
  });
  const { hub, url } = server;
  hub.notifier(defineNotifier<string, string>("chat"), {
    parseKey: (raw) => {
      if (typeof raw !== "string") throw new TypeError("a chat key is a string");
      return raw;
    },
    authorize: (_identity, k) => k !== "secret",
  });
  hub.notifier(defineNotifier<unknown, string>("doc"), {
    authorize: async (_identity, k) => {
      if (k === "boom") throw new Error("authorize blew up");
      return sortedJson(k) !== '{"id":0}';
    },
  });
  const free = hub.notifier(defineNotifier<unknown, string>("free"));
  const carl = await stream(url, "carl");
  const listened = await request(`${url}/listen`, {
    headers: { "content-type": "application/json", "x-user": "carl" },
    body: JSON.stringify({ session: carl.session, notifier: "free", key: "bystander" }),
  });
  expect(listened.status).to.equal(204);
  const state: State = { ann: "", annTopics: new Set(), carl: carl.session, dead: [] };
  const result: Setup = {
    server,
    state,
    carlConn: carl.conn,
    free,
    async openAnn() {
      state.ann = (await stream(url, "ann")).session;
    },
  };
  await result.openAnn();
  return result;
}

function expectErrorBody(answer: Answer, status: number): void {
  expect(answer.headers["content-type"]).to.match(/^application\/json/);
  const parsed = JSON.parse(answer.text) as { error: { code: string; message: string } };
  expect(Object.keys(parsed)).to.deep.equal(["error"]);
  expect(parsed.error.code).to.equal(CODES[status]);
  expect(parsed.error.message).to.be.a("string").and.not.equal("");
}

const tally: Record<string, number> = {};

describe("reliability: bad input fuzz", function () {
  this.timeout(60_000);
  afterEach(closeAll);
  after(() => {
    if (process.env.RELIABILITY_REPORT) console.log("fuzz tally", JSON.stringify(tally));
  });

  it("answers every POST as SPEC §4 says, never 500, and leaves the bystander alone", async () => {
    const s = await setup();
    const { url, hub } = s.server;
    const runs = Math.round(1_500 * (Number(process.env.RELIABILITY_RUNS ?? 1) || 1));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Path>("/listen", "/listen", "/unlisten", "/close"),
        contentType,
        body,
        fc.constantFrom<User>("ann", "ann", "bob", null),
        async (path, type, b, user) => {
          if (!s.state.ann) await s.openAnn();
          const bytes = render(b, s.state);
          const expected = oracle(s.state, path, type, bytes, user);
          const headers: Record<string, string> = {};
          if (type !== undefined) headers["content-type"] = type;
          if (user !== null) headers["x-user"] = user;
          const answer = await request(`${url}${path}`, { headers, body: bytes });
          const what = `${path} ${type} ${bytes.toString("utf8").slice(0, 200)} as ${user}`;
          expect(answer.status, `${what} → ${answer.text}`).to.equal(expected.status);
          if (expected.status !== 204) expectErrorBody(answer, expected.status);
          expected.apply?.();
          tally[`${path} ${expected.status}`] = (tally[`${path} ${expected.status}`] ?? 0) + 1;
          const annListens = s.state.annTopics.size;
          expect(hub.stats().listens, "listens: ann's and carl's one").to.equal(annListens + 1);
          expect(s.free.listeners("bystander"), "carl still listens").to.be.greaterThan(0);
          expect(s.carlConn.ended, "carl's stream is untouched").to.equal(false);
        },
      ),
      { numRuns: runs },
    );
    const before = s.carlConn.events.length;
    await s.free.notify("bystander", "still here");
    await waitFor(() => s.carlConn.events.length === before + 1, 3_000, "carl's notification");
    expect(s.carlConn.events.at(-1)?.data).to.match(
      /^\{"key":"bystander","data":"still here","pos":"[0-9a-z]+-1"\}$/,
    );
    expect(hub.stats().sessions).to.equal(s.state.ann ? 2 : 1);
  });

  it("never answers 500 to any method on any path, and the hub lives on", async () => {
    const s = await setup();
    const { origin, url } = s.server;
    const paths = fc.oneof(
      fc.constantFrom("/notif/events", "/notif/listen", "/notif/unlisten", "/notif/close"),
      fc.constantFrom("/notif/stats", "/notif", "/notif/", "/notif/events/", "/notif/EVENTS"),
      fc.constantFrom("/notif/events?lastEventId=", "/notif/stats?x=%ZZ", "/notif/%2e%2e/x"),
      fc
        .string({ unit: fc.constantFrom("a", "/", "%", "?", "=", "&", "é", "."), maxLength: 20 })
        .map((p) => `/notif/${encodeURI(p)}`),
    );
    const methods = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD");
    await fc.assert(
      fc.asyncProperty(
        methods,
        paths,
        fc.option(fc.string({ maxLength: 50 })),
        async (method, path, text) => {
          const headers: Record<string, string> = { "content-type": "application/json" };
          const answer = await request(`${origin}${path}`, {
            method,
            headers,
            ...(text === null || method === "GET" || method === "HEAD" ? {} : { body: text }),
          });
          expect(answer.status, `${method} ${path}`).to.not.equal(500);
          tally[`${method} ${answer.status}`] = (tally[`${method} ${answer.status}`] ?? 0) + 1;
        },
      ),
      { numRuns: 300 },
    );
    expect(s.carlConn.ended).to.equal(false);
    expect((await request(`${url}/stats`, { method: "GET" })).status).to.equal(200);
  });

  // Regression (fixed in b55bff3): HEAD /events (Express routes HEAD to the GET
  // handler) opened a session and a stream, but node ignores writes to a HEAD
  // response, so the headers never went out: `curl -I` hung and the session
  // lived as long as the socket.
  it("answers HEAD /events at once, with no session left behind", async () => {
    const { url, hub } = await startServer({ onError: () => {} });
    const answer = await Promise.race([
      request(`${url}/events`, { method: "HEAD" }),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1_000)),
    ]);
    expect(answer?.status, "an answer within 1 s").to.be.a("number");
    await waitFor(() => hub.stats().sessions === 0, 1_000, "no session").catch(() => {});
    expect(hub.stats().sessions).to.equal(0);
  });

  it("answers a deeply nested key (past the JSON parser's and canonical JSON's stacks) with 400 or 204, never 500", async () => {
    const { url, hub } = await startServer({ maxBodyBytes: 4 * 1024 * 1024, onError: () => {} });
    hub.notifier(defineNotifier<unknown, string>("free"));
    const { session } = await stream(url, "ann");
    for (const depth of [1_000, 10_000, 100_000, 1_000_000]) {
      const text = `{"session":"${session}","notifier":"free","key":${"[".repeat(depth)}${"]".repeat(depth)}}`;
      const answer = await request(`${url}/listen`, {
        headers: { "content-type": "application/json", "x-user": "ann" },
        body: text,
      });
      expect([204, 400, 404], `depth ${depth}: ${answer.text}`).to.include(answer.status);
    }
  });
});
