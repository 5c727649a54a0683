import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { expect } from "chai";
import { parseCloseBody, parseListenBody, readJson } from "../../server/body.js";
import { NotifError } from "../../server/errors.js";

/** A request-like stream: `chunks` as the body, with these headers. */
function request(chunks: (string | Buffer)[], headers: Record<string, string>): IncomingMessage {
  const stream = Readable.from(chunks.map((chunk) => Buffer.from(chunk)));
  return Object.assign(stream, { headers }) as unknown as IncomingMessage;
}

function json(text: string, extra: Record<string, string> = {}): IncomingMessage {
  return request([text], { "content-type": "application/json", ...extra });
}

async function failure(promise: Promise<unknown>): Promise<NotifError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(NotifError);
    return error as NotifError;
  }
  throw new Error("expected a rejection");
}

function thrown(fn: () => unknown): NotifError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(NotifError);
    return error as NotifError;
  }
  throw new Error("expected a throw");
}

describe("POST bodies", () => {
  describe("readJson", () => {
    it("parses an application/json body", async () => {
      expect(await readJson(json('{"a":[1,2]}'), 100)).to.deep.equal({ a: [1, 2] });
    });

    for (const type of [
      "application/json; charset=utf-8",
      "application/json;charset=UTF-8",
      "APPLICATION/JSON",
      "application/json ; charset=utf-8",
    ]) {
      it(`accepts Content-Type: ${type}`, async () => {
        const req = request(['{"a":1}'], { "content-type": type });
        expect(await readJson(req, 100)).to.deep.equal({ a: 1 });
      });
    }

    for (const type of [
      "text/plain",
      "text/plain;charset=UTF-8",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=xyz",
      "application/jsonp",
      "application/json-seq",
      "text/json",
      "",
    ]) {
      it(`answers 415 unsupported_media_type to Content-Type: ${JSON.stringify(type)}`, async () => {
        const error = await failure(readJson(request(['{"a":1}'], { "content-type": type }), 100));
        expect(error.code).to.equal("unsupported_media_type");
        expect(error.status).to.equal(415);
      });
    }

    it("answers 415 when the content type is missing", async () => {
      const error = await failure(readJson(request(['{"a":1}'], {}), 100));
      expect(error.code).to.equal("unsupported_media_type");
    });

    it("answers 415 before looking at the size", async () => {
      const req = request(["x".repeat(500)], {
        "content-type": "text/plain",
        "content-length": "500",
      });
      expect((await failure(readJson(req, 100))).code).to.equal("unsupported_media_type");
    });

    it("answers 413 too_large when Content-Length is over the limit, without reading", async () => {
      const req = request(["{}"], { "content-type": "application/json", "content-length": "101" });
      const error = await failure(readJson(req, 100));
      expect(error.code).to.equal("too_large");
      expect(error.status).to.equal(413);
      const left: Buffer[] = [];
      for await (const chunk of req as AsyncIterable<Buffer>) left.push(chunk);
      expect(Buffer.concat(left).toString()).to.equal("{}");
    });

    it("accepts a body of exactly the limit", async () => {
      const text = `"${"x".repeat(98)}"`;
      expect(text.length).to.equal(100);
      const req = json(text, { "content-length": "100" });
      expect(await readJson(req, 100)).to.equal("x".repeat(98));
    });

    it("answers 413 when a streamed body without Content-Length passes the limit", async () => {
      const chunks = Array.from({ length: 10 }, () => "x".repeat(30));
      const req = request(chunks, { "content-type": "application/json" });
      const error = await failure(readJson(req, 100));
      expect(error.code).to.equal("too_large");
    });

    it("answers 413 when the body is longer than its Content-Length claims", async () => {
      const req = json(`"${"x".repeat(200)}"`, { "content-length": "10" });
      expect((await failure(readJson(req, 100))).code).to.equal("too_large");
    });

    it("counts bytes, not characters", async () => {
      const text = `"${"é".repeat(60)}"`; // 62 characters, 122 bytes
      const error = await failure(readJson(json(text), 100));
      expect(error.code).to.equal("too_large");
    });

    it("decodes UTF-8 split across chunks", async () => {
      const bytes = Buffer.from('"日本"');
      const req = request([bytes.subarray(0, 2), bytes.subarray(2)], {
        "content-type": "application/json",
      });
      expect(await readJson(req, 100)).to.equal("日本");
    });

    for (const [what, text] of [
      ["invalid JSON", "{not json"],
      ["an empty body", ""],
      ["trailing garbage", '{"a":1} x'],
      ["a JavaScript literal", "undefined"],
    ] as const) {
      it(`answers 400 bad_request for ${what}`, async () => {
        const error = await failure(readJson(json(text), 100));
        expect(error.code).to.equal("bad_request");
        expect(error.status).to.equal(400);
        expect(error.message).to.not.equal("");
      });
    }

    it("uses the body a JSON parser already read", async () => {
      const req = request([], { "content-type": "application/json" });
      for await (const _ of req) {
        // consume
      }
      Object.assign(req, { body: { parsed: true } });
      expect(await readJson(req, 100)).to.deep.equal({ parsed: true });
    });
  });

  describe("parseListenBody", () => {
    it("reads a single {session, notifier, key} as one item", () => {
      expect(
        parseListenBody({ session: "s1", notifier: "chat", key: { room: "a" } }),
      ).to.deep.equal({ session: "s1", items: [{ notifier: "chat", key: { room: "a" } }] });
    });

    it("reads a batch of items", () => {
      const body = {
        session: "s1",
        items: [
          { notifier: "chat", key: "a" },
          { notifier: "doc", key: 1 },
        ],
      };
      expect(parseListenBody(body)).to.deep.equal(body);
    });

    it("accepts null, false, 0 and empty string as keys", () => {
      for (const key of [null, false, 0, ""]) {
        expect(parseListenBody({ session: "s", notifier: "n", key }).items[0]?.key).to.equal(key);
      }
    });

    it("ignores extra fields", () => {
      const parsed = parseListenBody({ session: "s", notifier: "n", key: 1, extra: true });
      expect(parsed).to.deep.equal({ session: "s", items: [{ notifier: "n", key: 1 }] });
    });

    const bad: [string, unknown][] = [
      ["null", null],
      ["an array", [{ session: "s", notifier: "n", key: 1 }]],
      ["a string", "s"],
      ["a number", 42],
      ["a missing session", { notifier: "n", key: 1 }],
      ["a numeric session", { session: 5, notifier: "n", key: 1 }],
      ["an empty session", { session: "", notifier: "n", key: 1 }],
      ["a session with a colon", { session: "a:1", notifier: "n", key: 1 }],
      ["a missing notifier", { session: "s", key: 1 }],
      ["a numeric notifier", { session: "s", notifier: 1, key: 1 }],
      ["a missing key", { session: "s", notifier: "n" }],
      ["items not an array", { session: "s", items: { notifier: "n", key: 1 } }],
      ["empty items", { session: "s", items: [] }],
      ["an item not an object", { session: "s", items: ["n"] }],
      ["a null item", { session: "s", items: [null] }],
      [
        "an item without key",
        { session: "s", items: [{ notifier: "n", key: 1 }, { notifier: "n" }] },
      ],
      ["an item without notifier", { session: "s", items: [{ key: 1 }] }],
      ["items next to a valid single item", { session: "s", notifier: "n", key: 1, items: "x" }],
    ];
    for (const [what, body] of bad) {
      it(`throws bad_request for ${what}`, () => {
        const error = thrown(() => parseListenBody(body));
        expect(error.code).to.equal("bad_request");
        expect(error.message).to.not.equal("");
      });
    }

    it("names the faulty item in its message", () => {
      const error = thrown(() =>
        parseListenBody({
          session: "s",
          items: [
            { notifier: "n", key: 1 },
            { notifier: 2, key: 1 },
          ],
        }),
      );
      expect(error.message).to.contain("items[1]");
    });
  });

  describe("parseCloseBody", () => {
    it("returns the session", () => {
      expect(parseCloseBody({ session: "abc.DEF" })).to.equal("abc.DEF");
    });

    for (const [what, body] of [
      ["null", null],
      ["an array", ["s"]],
      ["a missing session", {}],
      ["a numeric session", { session: 1 }],
      ["a malformed session", { session: "a b" }],
    ] as const) {
      it(`throws bad_request for ${what}`, () => {
        expect(thrown(() => parseCloseBody(body)).code).to.equal("bad_request");
      });
    }
  });
});
