import { expect } from "chai";
import {
  ERROR_STATUS,
  formatEventId,
  isErrorBody,
  isSessionId,
  parseEventId,
  type SessionId,
} from "../../protocol/wire.js";

const s = (id: string) => id as SessionId;

describe("event ids", () => {
  describe("formatEventId", () => {
    it("writes <session>:<seq>", () => {
      expect(formatEventId(s("abc.DEF_1-2"), 0)).to.equal("abc.DEF_1-2:0");
      expect(formatEventId(s("x"), 12345)).to.equal("x:12345");
    });

    it("round-trips through parseEventId", () => {
      const text = formatEventId(s("node.Zx_9-y"), 9_007_199_254_740_991);
      expect(parseEventId(text)).to.deep.equal({
        session: "node.Zx_9-y",
        seq: 9_007_199_254_740_991,
      });
    });
  });

  describe("parseEventId", () => {
    it("parses a well-formed id", () => {
      expect(parseEventId("abc:5")).to.deep.equal({ session: "abc", seq: 5 });
      expect(parseEventId("a.b_c-d:0")).to.deep.equal({ session: "a.b_c-d", seq: 0 });
    });

    it("accepts a session of 128 characters and refuses 129", () => {
      expect(parseEventId(`${"a".repeat(128)}:1`)?.session).to.equal("a".repeat(128));
      expect(parseEventId(`${"a".repeat(129)}:1`)).to.equal(undefined);
    });

    it("accepts the largest safe integer and refuses anything above", () => {
      expect(parseEventId("a:9007199254740991")?.seq).to.equal(Number.MAX_SAFE_INTEGER);
      expect(parseEventId("a:9007199254740992")).to.equal(undefined);
      expect(parseEventId("a:99999999999999999")).to.equal(undefined);
      expect(parseEventId(`a:1${"0".repeat(400)}`)).to.equal(undefined);
    });

    const malformed: [string, unknown][] = [
      ["no colon", "abc"],
      ["an empty session", ":5"],
      ["an empty seq", "abc:"],
      ["the empty string", ""],
      ["a leading zero", "abc:05"],
      ["two zeros", "abc:00"],
      ["a negative seq", "abc:-1"],
      ["a plus sign", "abc:+1"],
      ["a fraction", "abc:1.5"],
      ["an exponent", "abc:1e3"],
      ["hex", "abc:0x10"],
      ["spaces around the seq", "abc: 1"],
      ["a trailing LF", "abc:1\n"],
      ["a space in the session", "a b:1"],
      ["a slash in the session", "a/b:1"],
      ["a colon in the session", "a:b:1"],
      ["a non-ASCII session", "é:1"],
      ["a number", 5],
      ["null", null],
      ["undefined", undefined],
      ["an object", { session: "a", seq: 1 }],
      ["an array", ["a:1"]],
    ];
    for (const [what, text] of malformed) {
      it(`returns undefined for ${what}`, () => {
        expect(parseEventId(text)).to.equal(undefined);
      });
    }
  });

  describe("isSessionId", () => {
    it("accepts the session id alphabet and refuses the rest", () => {
      expect(isSessionId("abc.DEF_0-9")).to.equal(true);
      expect(isSessionId("")).to.equal(false);
      expect(isSessionId("a:b")).to.equal(false);
      expect(isSessionId("a b")).to.equal(false);
      expect(isSessionId(42)).to.equal(false);
    });
  });
});

describe("error bodies", () => {
  it("maps each code of the SPEC's table to its status", () => {
    expect(ERROR_STATUS).to.include({
      bad_request: 400,
      forbidden: 403,
      unknown_notifier: 404,
      unknown_session: 410,
      too_large: 413,
      unsupported_media_type: 415,
      too_many_keys: 429,
    });
  });

  it("isErrorBody recognises {error:{code,message}} only", () => {
    expect(isErrorBody({ error: { code: "forbidden", message: "no" } })).to.equal(true);
    expect(isErrorBody({ error: { code: "forbidden" } })).to.equal(false);
    expect(isErrorBody({ error: "forbidden" })).to.equal(false);
    expect(isErrorBody(null)).to.equal(false);
    expect(isErrorBody("error")).to.equal(false);
  });
});
