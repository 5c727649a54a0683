/**
 * SPEC §4's error table over real HTTP: status, exact JSON error body, the
 * precedence of faults, all-or-nothing batches, and bad input that leaves
 * everyone else alone (SPEC §5.6).
 */

import http from "node:http";
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { createHub, type HubOptions } from "../../server/index.js";
import { closeAll, notifications, openRaw, openSession, startServer, until } from "../helpers.js";

const chatDef = defineNotifier<string, string>("chat");
const docDef = defineNotifier<{ id: number }, string>("doc");

type Identity = string | null;
type Path = "/listen" | "/unlisten" | "/close";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  body: unknown;
}

/**
 * POSTs with node's http client, so that the content type can be left out and
 * a body can be streamed in chunks without Content-Length.
 */
function rawPost(
  url: string,
  body: string | string[],
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const all = { ...headers };
    if (typeof body === "string") all["content-length"] = String(Buffer.byteLength(body));
    const req = http.request(url, { method: "POST", headers: all }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => {
        let parsed: unknown;
        try {
          parsed = text === "" ? undefined : JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
      });
    });
    req.on("error", reject);
    for (const chunk of typeof body === "string" ? [body] : body) req.write(chunk);
    req.end();
  });
}

/** Asserts a JSON error answer: status, exactly {"error":{"code","message"}}, that code. */
function expectError(answer: Answer, status: number, code: string): void {
  expect(answer.status, answer.text).to.equal(status);
  expect(answer.headers["content-type"]).to.match(/^application\/json/);
  const body = answer.body as { error: { code: unknown; message: unknown } };
  expect(body, answer.text).to.be.an("object");
  expect(Object.keys(body)).to.deep.equal(["error"]);
  expect(Object.keys(body.error).sort()).to.deep.equal(["code", "message"]);
  expect(body.error.code).to.equal(code);
  expect(body.error.message).to.be.a("string").that.is.not.empty;
}

/**
 * A server with two notifiers: `chat` (string keys, parseKey refuses others,
 * authorize refuses "secret") and `doc` (authorize answers a promise of false
 * for id 0); a stream open as "ann".
 */
async function setup(options: HubOptions<Identity> = {}) {
  const server = await startServer<Identity>(options);
  const authorized: unknown[] = [];
  const chat = server.hub.notifier(chatDef, {
    parseKey: (raw) => {
      if (typeof raw !== "string") throw new TypeError("a chat key is a string");
      return raw;
    },
    authorize: (_identity, key) => {
      authorized.push(key);
      return key !== "secret";
    },
  });
  const doc = server.hub.notifier(docDef, {
    authorize: async (_identity, key) => {
      authorized.push(key);
      return key.id !== 0;
    },
  });
  const ann = await openSession(server.url, "ann");
  const session = ann.session();
  /** POSTs JSON as `user` (ann by default; null for no x-user header). */
  const send = (
    path: Path,
    body: unknown,
    user: string | null = "ann",
    type = "application/json",
  ) =>
    rawPost(`${server.url}${path}`, typeof body === "string" ? body : JSON.stringify(body), {
      "content-type": type,
      ...(user === null ? {} : { "x-user": user }),
    });
  return { ...server, chat, doc, ann, session, send, authorized };
}

describe("errors (SPEC §4)", () => {
  afterEach(closeAll);

  describe("400 bad_request", () => {
    const cases: [string, (session: string) => unknown][] = [
      ["the body is not JSON", () => "{not json"],
      ["the body is empty", () => ""],
      [
        "the body is a JSON array",
        (session) => JSON.stringify([{ session, notifier: "chat", key: "a" }]),
      ],
      ["the body is a JSON string", () => '"chat"'],
      ["the body is a JSON number", () => "42"],
      ["the body is JSON null", () => "null"],
      ["session is missing", () => ({ notifier: "chat", key: "a" })],
      ["session is not a string", () => ({ session: 42, notifier: "chat", key: "a" })],
      ["session is not an id", () => ({ session: "not a session", notifier: "chat", key: "a" })],
      ["notifier is missing", (session) => ({ session, key: "a" })],
      ["notifier is not a string", (session) => ({ session, notifier: ["chat"], key: "a" })],
      ["key is missing", (session) => ({ session, notifier: "chat" })],
      ["items is not an array", (session) => ({ session, items: { notifier: "chat", key: "a" } })],
      ["items is empty", (session) => ({ session, items: [] })],
      [
        "an item is not an object",
        (session) => ({ session, items: [{ notifier: "chat", key: "a" }, "chat"] }),
      ],
      ["an item has no key", (session) => ({ session, items: [{ notifier: "chat" }] })],
      ["parseKey refuses the key", (session) => ({ session, notifier: "chat", key: 5 })],
      [
        "parseKey refuses one key of a batch",
        (session) => ({
          session,
          items: [
            { notifier: "chat", key: "a" },
            { notifier: "chat", key: { room: "a" } },
          ],
        }),
      ],
    ];
    for (const [what, body] of cases) {
      for (const path of ["/listen", "/unlisten"] as const) {
        it(`answers ${path} with 400 bad_request when ${what}`, async () => {
          const { send, session, hub } = await setup();
          expectError(await send(path, body(session)), 400, "bad_request");
          expect(hub.stats().listens).to.equal(0);
        });
      }
    }

    for (const [what, body] of [
      ["the body is not JSON", "{"],
      ["the body is an array", "[]"],
      ["session is missing", {}],
      ["session is not a string", { session: 1 }],
    ] as const) {
      it(`answers /close with 400 bad_request when ${what}`, async () => {
        const { send, hub } = await setup();
        expectError(await send("/close", body), 400, "bad_request");
        expect(hub.stats().sessions).to.equal(1);
      });
    }
  });

  describe("403 forbidden", () => {
    it("refuses a listen that authorize says no to", async () => {
      const { send, session, chat, authorized } = await setup();
      expectError(
        await send("/listen", { session, notifier: "chat", key: "secret" }),
        403,
        "forbidden",
      );
      expect(authorized).to.deep.equal(["secret"]);
      expect(chat.listeners("secret")).to.equal(0);
    });

    it("refuses a listen that authorize answers a promise of false to", async () => {
      const { send, session, doc } = await setup();
      expectError(
        await send("/listen", { session, notifier: "doc", key: { id: 0 } }),
        403,
        "forbidden",
      );
      expect(doc.listeners({ id: 0 })).to.equal(0);
    });

    it("refuses a listen when authorize answers a truthy non-boolean", async () => {
      const server = await startServer<Identity>();
      server.hub.notifier(chatDef, { authorize: () => 1 as unknown as boolean });
      const raw = await openSession(server.url);
      const answer = await rawPost(
        `${server.url}/listen`,
        JSON.stringify({ session: raw.session(), notifier: "chat", key: "a" }),
        { "content-type": "application/json" },
      );
      expectError(answer, 403, "forbidden");
    });

    it("does not ask authorize on /unlisten", async () => {
      const { send, session, authorized } = await setup();
      expect(
        (await send("/unlisten", { session, notifier: "chat", key: "secret" })).status,
      ).to.equal(204);
      expect(authorized).to.deep.equal([]);
    });

    for (const [who, user] of [
      ["another identity", "bob"],
      ["an anonymous caller", null],
    ] as const) {
      it(`refuses /listen on a session from ${who}`, async () => {
        const { send, session, chat } = await setup();
        expectError(
          await send("/listen", { session, notifier: "chat", key: "a" }, user),
          403,
          "forbidden",
        );
        expect(chat.listeners("a")).to.equal(0);
      });
    }

    it("refuses /unlisten on a session from another identity, which keeps listening", async () => {
      const { send, session, chat } = await setup();
      expect((await send("/listen", { session, notifier: "chat", key: "a" })).status).to.equal(204);
      expectError(
        await send("/unlisten", { session, notifier: "chat", key: "a" }, "bob"),
        403,
        "forbidden",
      );
      expect(chat.listeners("a")).to.equal(1);
    });

    it("refuses /close on a session from another identity, which lives on", async () => {
      const { send, session, hub, chat, ann } = await setup();
      expect((await send("/listen", { session, notifier: "chat", key: "a" })).status).to.equal(204);
      expectError(await send("/close", { session }, "bob"), 403, "forbidden");
      expect(hub.stats()).to.include({ sessions: 1, streams: 1, listens: 1 });
      await chat.notify("a", "still here");
      await ann.event(1);
      expect(notifications(ann)).to.deep.equal([{ key: "a", data: "still here" }]);
    });

    it("refuses a request whose identify throws, and reports it to onError", async () => {
      const errors: object[] = [];
      const { send, session } = await setup({
        identify: (req) => {
          if (req.headers["x-user"] === "boom") throw new Error("identify failed");
          return (req.headers["x-user"] as string | undefined) ?? null;
        },
        onError: (_error, context) => errors.push(context),
      });
      expectError(
        await send("/listen", { session, notifier: "chat", key: "a" }, "boom"),
        403,
        "forbidden",
      );
      expect(errors).to.have.length(1);
    });
  });

  describe("404 unknown_notifier", () => {
    for (const path of ["/listen", "/unlisten"] as const) {
      it(`answers ${path} for a notifier no one defined`, async () => {
        const { send, session } = await setup();
        expectError(
          await send(path, { session, notifier: "nope", key: "a" }),
          404,
          "unknown_notifier",
        );
      });
    }

    it("matches notifier names exactly (case counts)", async () => {
      const { send, session } = await setup();
      expectError(
        await send("/listen", { session, notifier: "Chat", key: "a" }),
        404,
        "unknown_notifier",
      );
    });
  });

  describe("410 unknown_session", () => {
    for (const path of ["/listen", "/unlisten", "/close"] as const) {
      it(`answers ${path} for a session that never existed`, async () => {
        const { send } = await setup();
        const body = { session: "never.existed", notifier: "chat", key: "a" };
        expectError(await send(path, body), 410, "unknown_session");
      });
    }

    it("answers a session ended by /close", async () => {
      const { send, session } = await setup();
      expect((await send("/close", { session })).status).to.equal(204);
      expectError(
        await send("/listen", { session, notifier: "chat", key: "a" }),
        410,
        "unknown_session",
      );
      expectError(
        await send("/unlisten", { session, notifier: "chat", key: "a" }),
        410,
        "unknown_session",
      );
      expectError(await send("/close", { session }), 410, "unknown_session");
    });

    it("answers a session expired sessionTimeout after its stream dropped", async () => {
      const { send, session, ann, hub } = await setup({ sessionTimeout: 50 });
      expect((await send("/listen", { session, notifier: "chat", key: "a" })).status).to.equal(204);
      ann.close();
      await until(() => hub.stats().sessions === 0, 3_000, "the session to expire");
      expectError(
        await send("/listen", { session, notifier: "chat", key: "b" }),
        410,
        "unknown_session",
      );
    });

    it("never accepts a listen on a session ended by hub.close()", async () => {
      // A closed hub serves nothing (503 unavailable): its clients go elsewhere.
      const { send, session, hub } = await setup();
      await hub.close();
      const answer = await send("/listen", { session, notifier: "chat", key: "a" });
      expect(answer.status).to.be.oneOf([410, 503]);
      expect(answer.body).to.have.nested.property("error.code");
    });
  });

  describe("413 too_large", () => {
    const big = (session: string) =>
      JSON.stringify({ session, notifier: "chat", key: "x".repeat(200) });

    for (const path of ["/listen", "/unlisten", "/close"] as const) {
      it(`answers ${path} when Content-Length is over maxBodyBytes`, async () => {
        const { send, session } = await setup({ maxBodyBytes: 64 });
        expectError(await send(path, big(session)), 413, "too_large");
      });
    }

    it("answers a body streamed without Content-Length once it passes maxBodyBytes", async () => {
      const { url, session } = await setup({ maxBodyBytes: 64 });
      const text = big(session);
      const chunks = [text.slice(0, 50), text.slice(50, 100), text.slice(100)];
      const answer = await rawPost(`${url}/listen`, chunks, {
        "content-type": "application/json",
        "x-user": "ann",
      });
      expectError(answer, 413, "too_large");
    });

    it("accepts a body of maxBodyBytes exactly", async () => {
      const { send, session } = await setup({ maxBodyBytes: 128 });
      const base = JSON.stringify({ session, notifier: "chat", key: "" });
      const body = JSON.stringify({
        session,
        notifier: "chat",
        key: "k".repeat(128 - base.length),
      });
      expect(Buffer.byteLength(body)).to.equal(128);
      expect((await send("/listen", body)).status).to.equal(204);
    });

    it("uses the 16 KiB default", async () => {
      const { send, session } = await setup();
      const body = JSON.stringify({ session, notifier: "chat", key: "x".repeat(17_000) });
      expectError(await send("/listen", body), 413, "too_large");
    });
  });

  describe("415 unsupported_media_type", () => {
    for (const type of [
      "text/plain",
      "text/plain;charset=UTF-8",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
    ]) {
      for (const path of ["/listen", "/close"] as const) {
        it(`answers ${path} sent as ${type}`, async () => {
          const { send, session, hub } = await setup();
          const answer = await send(path, { session, notifier: "chat", key: "a" }, "ann", type);
          expectError(answer, 415, "unsupported_media_type");
          expect(hub.stats()).to.include({ sessions: 1, listens: 0 });
        });
      }
    }

    it("answers a body without Content-Type", async () => {
      const { url, session } = await setup();
      const answer = await rawPost(
        `${url}/listen`,
        JSON.stringify({ session, notifier: "chat", key: "a" }),
        {
          "x-user": "ann",
        },
      );
      expectError(answer, 415, "unsupported_media_type");
    });

    it("accepts application/json; charset=utf-8", async () => {
      const { send, session } = await setup();
      const answer = await send(
        "/listen",
        { session, notifier: "chat", key: "a" },
        "ann",
        "application/json; charset=utf-8",
      );
      expect(answer.status).to.equal(204);
    });
  });

  describe("429 too_many_keys", () => {
    it("counts the keys of all notifiers together", async () => {
      const { send, session, chat } = await setup({ maxKeysPerSession: 2 });
      expect((await send("/listen", { session, notifier: "chat", key: "a" })).status).to.equal(204);
      expect((await send("/listen", { session, notifier: "doc", key: { id: 1 } })).status).to.equal(
        204,
      );
      expectError(
        await send("/listen", { session, notifier: "chat", key: "b" }),
        429,
        "too_many_keys",
      );
      expect(chat.listeners("b")).to.equal(0);
    });

    it("does not count a key already held as a new one", async () => {
      const { send, session, hub } = await setup({ maxKeysPerSession: 2 });
      await send("/listen", { session, notifier: "chat", key: "a" });
      await send("/listen", { session, notifier: "doc", key: { id: 1 } });
      expect((await send("/listen", { session, notifier: "chat", key: "a" })).status).to.equal(204);
      const both = {
        session,
        items: [
          { notifier: "doc", key: { id: 1 } },
          { notifier: "chat", key: "a" },
        ],
      };
      expect((await send("/listen", both)).status).to.equal(204);
      expect(hub.stats().listens).to.equal(2);
    });

    it("counts one key twice in a batch once", async () => {
      const { send, session } = await setup({ maxKeysPerSession: 1 });
      const twice = {
        session,
        items: [
          { notifier: "chat", key: "a" },
          { notifier: "chat", key: "a" },
        ],
      };
      expect((await send("/listen", twice)).status).to.equal(204);
    });

    it("refuses a batch that would exceed the limit whole", async () => {
      const { send, session, hub, chat } = await setup({ maxKeysPerSession: 3 });
      await send("/listen", { session, notifier: "chat", key: "a" });
      const batch = {
        session,
        items: ["a", "b", "c", "d"].map((key) => ({ notifier: "chat", key })),
      };
      expectError(await send("/listen", batch), 429, "too_many_keys");
      expect(hub.stats().listens).to.equal(1);
      expect(["b", "c", "d"].map((key) => chat.listeners(key))).to.deep.equal([0, 0, 0]);
    });

    it("lets a session listen again once it unlistened", async () => {
      const { send, session } = await setup({ maxKeysPerSession: 1 });
      await send("/listen", { session, notifier: "chat", key: "a" });
      expectError(
        await send("/listen", { session, notifier: "chat", key: "b" }),
        429,
        "too_many_keys",
      );
      expect((await send("/unlisten", { session, notifier: "chat", key: "a" })).status).to.equal(
        204,
      );
      expect((await send("/listen", { session, notifier: "chat", key: "b" })).status).to.equal(204);
    });

    it("limits each session on its own", async () => {
      const { url, send, session } = await setup({ maxKeysPerSession: 1 });
      await send("/listen", { session, notifier: "chat", key: "a" });
      const other = await openSession(url, "ann");
      const answer = await send("/listen", {
        session: other.session(),
        notifier: "chat",
        key: "b",
      });
      expect(answer.status).to.equal(204);
    });
  });

  describe("precedence: content type, size, JSON shape, session, identity, notifier, key, authorize, limit", () => {
    it("content type before size: an oversize text/plain body gets 415", async () => {
      const { send, session } = await setup({ maxBodyBytes: 64 });
      const body = JSON.stringify({ session, notifier: "chat", key: "x".repeat(200) });
      expectError(await send("/listen", body, "ann", "text/plain"), 415, "unsupported_media_type");
    });

    it("size before JSON shape: an oversize body that is not JSON gets 413", async () => {
      const { send } = await setup({ maxBodyBytes: 64 });
      expectError(await send("/listen", `{${"x".repeat(200)}`), 413, "too_large");
    });

    it("size before JSON shape, streamed: an oversize chunked body that is not JSON gets 413", async () => {
      const { url } = await setup({ maxBodyBytes: 64 });
      const chunks = ["{not json", "x".repeat(60), "x".repeat(60)];
      const answer = await rawPost(`${url}/listen`, chunks, { "content-type": "application/json" });
      expectError(answer, 413, "too_large");
    });

    it("JSON shape before session: a malformed body naming no live session gets 400", async () => {
      const { send } = await setup();
      expectError(
        await send("/listen", { session: "never.existed", items: [] }),
        400,
        "bad_request",
      );
      expectError(
        await send("/listen", { session: "never.existed", notifier: 5, key: "a" }),
        400,
        "bad_request",
      );
      expectError(
        await send("/listen", { session: "never.existed", notifier: "chat" }),
        400,
        "bad_request",
      );
    });

    it("session before identity: a dead session asked for by another identity gets 410", async () => {
      const { send, session } = await setup();
      await send("/close", { session });
      expectError(
        await send("/listen", { session, notifier: "chat", key: "a" }, "bob"),
        410,
        "unknown_session",
      );
    });

    it("session before identity: an unknown session gets 410 even when identify would fail", async () => {
      const { send } = await setup({
        identify: (req) => {
          if (req.headers["x-user"] === "boom") throw new Error("identify failed");
          return null;
        },
      });
      const body = { session: "never.existed", notifier: "chat", key: "a" };
      expectError(await send("/listen", body, "boom"), 410, "unknown_session");
    });

    it("identity before notifier: another identity naming an unknown notifier gets 403", async () => {
      const { send, session } = await setup();
      expectError(
        await send("/listen", { session, notifier: "nope", key: "a" }, "bob"),
        403,
        "forbidden",
      );
      expectError(
        await send("/unlisten", { session, notifier: "nope", key: "a" }, "bob"),
        403,
        "forbidden",
      );
    });

    it("identity before key: another identity with a refused key gets 403", async () => {
      const { send, session } = await setup();
      expectError(
        await send("/listen", { session, notifier: "chat", key: 5 }, "bob"),
        403,
        "forbidden",
      );
    });

    // Regression: at a030ee1, router.ts checked notifier then key item by
    // item, so a refused key in an earlier item won (400 instead of 404).
    it("notifier before key: a batch with a refused key and an unknown notifier gets 404", async () => {
      const { send, session } = await setup();
      const batch = {
        session,
        items: [
          { notifier: "chat", key: 5 },
          { notifier: "nope", key: "a" },
        ],
      };
      expectError(await send("/listen", batch), 404, "unknown_notifier");
    });

    it("notifier before authorize: a batch with an unauthorized key and an unknown notifier gets 404", async () => {
      const { send, session, authorized } = await setup();
      const batch = {
        session,
        items: [
          { notifier: "chat", key: "secret" },
          { notifier: "nope", key: "a" },
        ],
      };
      expectError(await send("/listen", batch), 404, "unknown_notifier");
      expect(authorized).to.deep.equal([]);
    });

    it("key before authorize: a batch with an unauthorized key and a refused key gets 400, authorize unasked", async () => {
      const { send, session, authorized } = await setup();
      const batch = {
        session,
        items: [
          { notifier: "chat", key: "secret" },
          { notifier: "chat", key: 5 },
        ],
      };
      expectError(await send("/listen", batch), 400, "bad_request");
      expect(authorized).to.deep.equal([]);
    });

    it("authorize before limit: an unauthorized key over the limit gets 403", async () => {
      const { send, session } = await setup({ maxKeysPerSession: 1 });
      await send("/listen", { session, notifier: "chat", key: "a" });
      expectError(
        await send("/listen", { session, notifier: "chat", key: "secret" }),
        403,
        "forbidden",
      );
      const batch = {
        session,
        items: [
          { notifier: "chat", key: "b" },
          { notifier: "doc", key: { id: 0 } },
        ],
      };
      expectError(await send("/listen", batch), 403, "forbidden");
    });

    it("limit last: an authorized key over the limit gets 429", async () => {
      const { send, session } = await setup({ maxKeysPerSession: 1 });
      await send("/listen", { session, notifier: "chat", key: "a" });
      expectError(
        await send("/listen", { session, notifier: "doc", key: { id: 1 } }),
        429,
        "too_many_keys",
      );
    });
  });

  describe("batches are all or nothing", () => {
    const faults: [string, unknown, number, string][] = [
      ["an unknown notifier", { notifier: "nope", key: "x" }, 404, "unknown_notifier"],
      ["a key parseKey refuses", { notifier: "chat", key: 5 }, 400, "bad_request"],
      ["a key authorize refuses", { notifier: "chat", key: "secret" }, 403, "forbidden"],
      [
        "a key authorize refuses asynchronously",
        { notifier: "doc", key: { id: 0 } },
        403,
        "forbidden",
      ],
    ];
    for (const [what, bad, status, code] of faults) {
      it(`applies no listen of a batch holding ${what}`, async () => {
        const { send, session, hub, chat, doc, ann } = await setup();
        const batch = {
          session,
          items: [{ notifier: "chat", key: "a" }, { notifier: "doc", key: { id: 1 } }, bad],
        };
        expectError(await send("/listen", batch), status, code);
        expect(hub.stats()).to.include({ listens: 0, keys: 0 });
        expect(chat.listeners("a")).to.equal(0);
        expect(doc.listeners({ id: 1 })).to.equal(0);
        // and nothing is delivered on those keys
        expect((await send("/listen", { session, notifier: "chat", key: "z" })).status).to.equal(
          204,
        );
        await chat.notify("a", "not for you");
        await doc.notify({ id: 1 }, "not for you either");
        await chat.notify("z", "marker");
        await ann.event(1);
        expect(notifications(ann)).to.deep.equal([{ key: "z", data: "marker" }]);
      });
    }

    it("applies no unlisten of a batch holding an unknown notifier", async () => {
      const { send, session, hub, chat } = await setup();
      const both = {
        session,
        items: [
          { notifier: "chat", key: "a" },
          { notifier: "chat", key: "b" },
        ],
      };
      expect((await send("/listen", both)).status).to.equal(204);
      const batch = {
        session,
        items: [
          { notifier: "chat", key: "a" },
          { notifier: "nope", key: "b" },
        ],
      };
      expectError(await send("/unlisten", batch), 404, "unknown_notifier");
      expect(hub.stats().listens).to.equal(2);
      expect(chat.listeners("a")).to.equal(1);
    });

    it("applies no unlisten of a batch holding a refused key", async () => {
      const { send, session, hub } = await setup();
      expect((await send("/listen", { session, notifier: "chat", key: "a" })).status).to.equal(204);
      const batch = {
        session,
        items: [
          { notifier: "chat", key: "a" },
          { notifier: "chat", key: 5 },
        ],
      };
      expectError(await send("/unlisten", batch), 400, "bad_request");
      expect(hub.stats().listens).to.equal(1);
    });
  });

  describe("bad input (SPEC §5.6)", () => {
    it("never changes another session's state nor stops the server", async () => {
      const requestErrors: object[] = [];
      const { url, send, session, hub, chat, ann } = await setup({
        maxBodyBytes: 256,
        onError: (_error, context) => {
          if ((context as { during?: string }).during === "request") requestErrors.push(context);
        },
      });
      expect((await send("/listen", { session, notifier: "chat", key: "a" })).status).to.equal(204);
      const bob = await openSession(url, "bob");
      const before = hub.stats();
      const burst: Promise<Answer>[] = [];
      for (let round = 0; round < 5; round += 1) {
        burst.push(
          send("/listen", { session, notifier: "chat", key: "b" }, "bob"),
          send("/unlisten", { session, notifier: "chat", key: "a" }, "bob"),
          send("/close", { session }, "bob"),
          send("/close", { session }, null),
          send("/listen", "{", "bob"),
          send("/listen", "[1,2,3]", "bob"),
          send(
            "/listen",
            { session: bob.session(), items: [{ notifier: "chat", key: "a" }, 7] },
            "bob",
          ),
          send("/listen", { session: bob.session(), notifier: "nope", key: "a" }, "bob"),
          send(
            "/listen",
            { session: bob.session(), notifier: "chat", key: { deep: [1, 2] } },
            "bob",
          ),
          send("/listen", { session: bob.session(), notifier: "chat", key: "secret" }, "bob"),
          send(
            "/listen",
            { session: bob.session(), notifier: "chat", key: "x".repeat(1000) },
            "bob",
          ),
          send("/listen", { session, notifier: "chat", key: "b" }, "bob", "text/plain"),
          send("/unlisten", { session: `${session}x`, notifier: "chat", key: "a" }, "ann"),
          send("/listen", { session: "__proto__", notifier: "__proto__", key: "a" }, "ann"),
          send("/listen", { session, notifier: "constructor", key: "a" }, "ann"),
          send("/listen", { session, notifier: "hasOwnProperty", key: "a" }, "ann"),
        );
      }
      const answers = await Promise.all(burst);
      for (const answer of answers) {
        expect(answer.status, answer.text).to.be.within(400, 499);
        expect(answer.body, answer.text).to.have.nested.property("error.code");
      }
      // a stream that tries to take over ann's session gets its own
      const thief = await openRaw(`${url}/events`, {
        "x-user": "bob",
        "last-event-id": `${session}:0`,
      });
      await thief.event(0);
      expect(thief.session()).to.not.equal(session);

      expect(requestErrors).to.deep.equal([]);
      expect(hub.stats()).to.include({ keys: before.keys, listens: before.listens });
      expect(chat.listeners("a")).to.equal(1);
      await chat.notify("a", "after the burst");
      await ann.event(1);
      expect(notifications(ann)).to.deep.equal([{ key: "a", data: "after the burst" }]);
      expect(notifications(thief)).to.deep.equal([]);
      expect(notifications(bob)).to.deep.equal([]);
    });
  });

  describe("GET /stats", () => {
    it("answers hub.stats() as JSON, with the fields of SPEC §3", async () => {
      const { url, send, session, chat, ann } = await setup();
      await send("/listen", { session, notifier: "chat", key: "a" });
      await chat.notify("a", "hi");
      await ann.event(1);
      const res = await fetch(`${url}/stats`, { headers: { "x-user": "ann" } });
      expect(res.status).to.equal(200);
      expect(res.headers.get("content-type")).to.match(/^application\/json/);
      const text = await res.text();
      const stats = JSON.parse(text) as Record<string, unknown>;
      expect(Object.keys(stats).sort()).to.deep.equal(
        ["bus", "dropped", "keys", "listens", "sent", "sessions", "streams"].sort(),
      );
      expect(stats).to.deep.equal({
        sessions: 1,
        streams: 1,
        keys: 1,
        listens: 1,
        sent: 1,
        dropped: 0,
        bus: "local",
      });
      expect(text).to.not.contain(session);
      expect(text).to.not.contain(session.split(".")[0] ?? session);
      expect(text).to.not.contain("ann");
    });

    it("answers 404 with a JSON error when stats: false", async () => {
      const { url } = await startServer({ stats: false });
      const res = await fetch(`${url}/stats`);
      const text = await res.text();
      expectError(
        {
          status: res.status,
          headers: { "content-type": res.headers.get("content-type") ?? "" },
          text,
          body: JSON.parse(text),
        },
        404,
        "not_found",
      );
    });
  });

  describe("misuse of the server API throws at once", () => {
    it("rejects a notify of undefined", async () => {
      const { chat } = await setup();
      let error: unknown;
      await chat.notify("a", undefined as unknown as string).catch((caught: unknown) => {
        error = caught;
      });
      expect(error).to.be.instanceOf(TypeError);
    });

    it("throws on a second notifier of one name", async () => {
      const { hub, send, session } = await setup();
      expect(() => hub.notifier(chatDef)).to.throw(TypeError, /chat/);
      expect(() => hub.notifier(defineNotifier<number, number>("chat"))).to.throw(TypeError);
      expect((await send("/listen", { session, notifier: "chat", key: "a" })).status).to.equal(204);
    });

    const bad: [string, HubOptions<Identity>][] = [
      ["a negative retention", { retention: -1 }],
      ["a fractional retention", { retention: 1.5 }],
      ["a non-function identify", { identify: 42 as never }],
      ["a non-function onError", { onError: "log" as never }],
      ["a zero sessionTimeout", { sessionTimeout: 0 }],
      ["a NaN heartbeat", { heartbeat: Number.NaN }],
      ["a negative retry", { retry: -5 }],
      ["a zero maxKeysPerSession", { maxKeysPerSession: 0 }],
      ["a string maxBodyBytes", { maxBodyBytes: "16k" as never }],
      ["an infinite maxBufferedBytes", { maxBufferedBytes: Number.POSITIVE_INFINITY }],
      ["a bus without publish", { bus: {} as never }],
    ];
    for (const [what, options] of bad) {
      it(`createHub throws a TypeError for ${what}`, () => {
        expect(() => createHub(options)).to.throw(TypeError);
      });
    }
  });
});
