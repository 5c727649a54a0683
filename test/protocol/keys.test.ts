import { expect } from "chai";
import { canonicalJson, isTopic, topicOf } from "../../protocol/keys.js";

describe("canonicalJson", () => {
  describe("accepted values", () => {
    it("writes scalars as JSON.stringify does", () => {
      expect(canonicalJson(null)).to.equal("null");
      expect(canonicalJson(true)).to.equal("true");
      expect(canonicalJson(false)).to.equal("false");
      expect(canonicalJson(0)).to.equal("0");
      expect(canonicalJson(-0)).to.equal("0");
      expect(canonicalJson(1.5e300)).to.equal("1.5e+300");
      expect(canonicalJson(-42)).to.equal("-42");
      expect(canonicalJson("")).to.equal('""');
      expect(canonicalJson("a")).to.equal('"a"');
    });

    it("sorts object keys whatever their insertion order", () => {
      expect(canonicalJson({ b: 1, a: 2, c: 3 })).to.equal('{"a":2,"b":1,"c":3}');
      expect(canonicalJson({ c: 3, a: 2, b: 1 })).to.equal(canonicalJson({ a: 2, b: 1, c: 3 }));
    });

    it("sorts integer-like keys as strings, not in the engine's numeric order", () => {
      expect(canonicalJson({ a: 1, 10: 2, 2: 3 })).to.equal('{"10":2,"2":3,"a":1}');
    });

    it("sorts keys at every depth of nesting", () => {
      expect(canonicalJson({ z: { y: 1, x: [{ q: 1, p: 2 }] }, a: {} })).to.equal(
        '{"a":{},"z":{"x":[{"p":2,"q":1}],"y":1}}',
      );
    });

    it("keeps the order of array items", () => {
      expect(canonicalJson([3, 1, 2])).to.equal("[3,1,2]");
      expect(canonicalJson([])).to.equal("[]");
      expect(canonicalJson([[], [null, "x"], {}])).to.equal('[[],[null,"x"],{}]');
    });

    it("keeps non-ASCII text as is and escapes what JSON must", () => {
      expect(canonicalJson("é日本😀")).to.equal('"é日本😀"');
      expect(canonicalJson('q"b\\n\nr\rt\t\u0000')).to.equal('"q\\"b\\\\n\\nr\\rt\\t\\u0000"');
      expect(canonicalJson("\ud800")).to.equal('"\\ud800"');
      expect(canonicalJson({ "k\n": 1 })).to.equal('{"k\\n":1}');
    });

    it("gives single-line text even for values holding line breaks", () => {
      const text = canonicalJson({ "a\r\n": ["\n", "\r", "\u2028"] });
      expect(text).to.not.match(/[\r\n]/);
      expect(JSON.parse(text)).to.deep.equal({ "a\r\n": ["\n", "\r", "\u2028"] });
    });

    it("skips undefined properties as JSON.stringify does", () => {
      expect(canonicalJson({ a: undefined, b: 1 })).to.equal('{"b":1}');
      expect(canonicalJson({ a: undefined })).to.equal("{}");
      expect(canonicalJson({ a: undefined, b: 1 })).to.equal(JSON.stringify({ b: 1 }));
    });

    it("accepts objects without a prototype", () => {
      const bare = Object.create(null) as Record<string, unknown>;
      bare.b = 1;
      bare.a = 2;
      expect(canonicalJson(bare)).to.equal('{"a":2,"b":1}');
    });

    it("accepts a value seen twice that is not a cycle", () => {
      const shared = { x: 1 };
      expect(canonicalJson({ a: shared, b: shared, c: [shared, shared] })).to.equal(
        '{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":1}]}',
      );
    });

    it("gives text that parses back to an equal value", () => {
      const value = { n: [1, { m: "x", l: null }], b: false, s: "ü" };
      expect(JSON.parse(canonicalJson(value))).to.deep.equal(value);
    });
  });

  describe("refused values", () => {
    const refused: [string, unknown][] = [
      ["undefined", undefined],
      ["a function", () => 1],
      ["a symbol", Symbol("s")],
      ["a bigint", 10n],
      ["NaN", Number.NaN],
      ["Infinity", Number.POSITIVE_INFINITY],
      ["-Infinity", Number.NEGATIVE_INFINITY],
      ["a Date", new Date(0)],
      ["a Map", new Map([["a", 1]])],
      ["a Set", new Set([1])],
      ["a class instance", new (class Point {})()],
      ["a boxed string", Object("a")],
      ["a nested NaN", { a: [1, Number.NaN] }],
      ["a nested bigint", { a: { b: 1n } }],
      ["a function property", { f() {} }],
    ];
    for (const [what, value] of refused) {
      it(`throws a TypeError for ${what}`, () => {
        expect(() => canonicalJson(value)).to.throw(TypeError);
      });
    }

    it("throws a TypeError for a cycle through an object", () => {
      const cyclic: Record<string, unknown> = { a: 1 };
      cyclic.self = cyclic;
      expect(() => canonicalJson(cyclic)).to.throw(TypeError, /cycle/);
    });

    it("throws a TypeError for a cycle through an array", () => {
      const cyclic: unknown[] = [];
      cyclic.push({ back: cyclic });
      expect(() => canonicalJson(cyclic)).to.throw(TypeError, /cycle/);
    });

    // Regression: map skipped holes and join wrote them as "", giving "[,1]".
    it("writes undefined and holes inside an array as null, as JSON.stringify does", () => {
      // biome-ignore lint/suspicious/noSparseArray: the point of the test
      const sparse = [, 1, undefined];
      expect(canonicalJson(sparse)).to.equal("[null,1,null]");
      expect(canonicalJson(sparse)).to.equal(JSON.stringify(sparse));
    });
  });

  it("accepts JSON values", () => {
    expect(canonicalJson({ a: [1, "b", null, true] })).to.equal('{"a":[1,"b",null,true]}');
    expect(canonicalJson("x")).to.equal('"x"');
  });
});

describe("topicOf", () => {
  it("names a topic <notifier>:<keyId>, as server and client both name it", () => {
    expect(topicOf("chat", '{"room":"a"}')).to.equal('chat:{"room":"a"}');
    expect(topicOf("doc", "42")).to.equal("doc:42");
  });
});

describe("isTopic", () => {
  it("accepts what topicOf makes, and nothing without the name:keyId shape", () => {
    expect(isTopic(topicOf("chat", '"a"'))).to.equal(true);
    expect(isTopic(topicOf("doc", ""))).to.equal(true);
    expect(isTopic("chat")).to.equal(false);
    expect(isTopic(42)).to.equal(false);
    expect(isTopic(undefined)).to.equal(false);
  });
});
