import { expect } from "chai";
import { defineNotifier, NOTIFIER_NAME } from "../../protocol/contract.js";

describe("defineNotifier", () => {
  describe("name", () => {
    const good = [
      "a",
      "Z",
      "chat",
      "doc.v2",
      "a_b-c.d",
      "A0",
      `a${"b".repeat(63)}`, // 64 characters
    ];
    for (const name of good) {
      it(`accepts ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)}`, () => {
        expect(defineNotifier(name).name).to.equal(name);
      });
    }

    const bad: [string, unknown][] = [
      ["the empty name", ""],
      ["65 characters", `a${"b".repeat(64)}`],
      ["a digit first", "1chat"],
      ["an underscore first", "_chat"],
      ["a dot first", ".chat"],
      ["a dash first", "-chat"],
      ["a space", "my chat"],
      ["a colon (the topic separator)", "chat:x"],
      ["a trailing LF", "chat\n"],
      ["a CR", "ch\rat"],
      ["a NUL", "chat\0"],
      ["a non-ASCII letter", "café"],
      ["a slash", "a/b"],
      ["a non-string", 42],
      ["undefined", undefined],
    ];
    for (const [what, name] of bad) {
      it(`refuses ${what} with a TypeError at once`, () => {
        expect(() => defineNotifier(name as string)).to.throw(TypeError, /name/);
      });
    }

    it("reserves the name session for the session event", () => {
      expect(() => defineNotifier("session")).to.throw(TypeError, /reserved/);
      expect(defineNotifier("Session").name).to.equal("Session");
      expect(defineNotifier("sessions").name).to.equal("sessions");
    });

    for (const name of ["error", "open", "message"]) {
      it(`reserves the name ${name}, an event EventSource dispatches itself`, () => {
        expect(() => defineNotifier(name)).to.throw(TypeError, new RegExp(`"${name}" is reserved`));
        expect(defineNotifier(`${name}s`).name).to.equal(`${name}s`);
        expect(defineNotifier(name.toUpperCase()).name).to.equal(name.toUpperCase());
      });
    }

    it("exports the pattern the SPEC gives", () => {
      expect(NOTIFIER_NAME.source).to.equal("^[A-Za-z][A-Za-z0-9_.-]{0,63}$");
    });
  });

  describe("keyId", () => {
    it("defaults to canonical JSON, object keys sorted", () => {
      const def = defineNotifier<{ b: number; a: number }>("doc");
      expect(def.keyId({ b: 1, a: 2 })).to.equal('{"a":2,"b":1}');
      expect(def.keyId({ a: 2, b: 1 })).to.equal(def.keyId({ b: 1, a: 2 }));
      expect(def.keyId(42 as never)).to.equal("42");
    });

    it("refuses a key that is not JSON by default", () => {
      const def = defineNotifier<unknown>("doc");
      expect(() => def.keyId(new Date())).to.throw(TypeError);
      expect(() => def.keyId(undefined)).to.throw(TypeError);
    });

    it("uses a custom keyId for key equality", () => {
      const def = defineNotifier<{ id: number; title: string }>("doc", {
        keyId: (key) => String(key.id),
      });
      expect(def.keyId({ id: 7, title: "a" })).to.equal("7");
      expect(def.keyId({ id: 7, title: "b" })).to.equal(def.keyId({ id: 7, title: "a" }));
    });

    it("throws a TypeError when the custom keyId returns a non-string", () => {
      const def = defineNotifier<number>("doc", { keyId: (key) => key as unknown as string });
      expect(() => def.keyId(3)).to.throw(TypeError, /non-string/);
      const undef = defineNotifier<number>("doc2", {
        keyId: () => undefined as unknown as string,
      });
      expect(() => undef.keyId(3)).to.throw(TypeError);
    });

    it("refuses a keyId option that is not a function at once", () => {
      expect(() => defineNotifier("doc", { keyId: "id" as never })).to.throw(TypeError, /keyId/);
    });
  });

  it("returns a frozen definition", () => {
    const def = defineNotifier("chat");
    expect(Object.isFrozen(def)).to.equal(true);
  });
});
