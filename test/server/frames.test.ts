import { expect } from "chai";
import {
  commentFrame,
  eventBody,
  eventFrame,
  eventHead,
  idLine,
  idPrefix,
  markNotFor,
  notificationBody,
  notificationJson,
  retryFrame,
} from "../../server/frames.js";

describe("SSE frames", () => {
  describe("retryFrame", () => {
    it("writes retry: <ms> and a blank line", () => {
      expect(retryFrame(2000)).to.equal("retry: 2000\n\n");
      expect(retryFrame(0)).to.equal("retry: 0\n\n");
    });

    for (const ms of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      it(`refuses ${ms} with a RangeError`, () => {
        expect(() => retryFrame(ms)).to.throw(RangeError);
      });
    }
  });

  describe("commentFrame", () => {
    it("writes a bare colon line by default (the heartbeat)", () => {
      expect(commentFrame()).to.equal(":\n\n");
    });

    it("writes the text right after the colon", () => {
      expect(commentFrame("ping")).to.equal(":ping\n\n");
      expect(commentFrame(" ok: yes")).to.equal(": ok: yes\n\n");
    });

    for (const [what, text] of [
      ["LF", "a\nb"],
      ["CR", "a\rb"],
      ["CRLF", "a\r\nb"],
      ["a trailing LF", "a\n"],
      ["NUL", "a\0b"],
    ] as const) {
      it(`refuses ${what}, which would end the comment`, () => {
        expect(() => commentFrame(text)).to.throw(TypeError);
      });
    }
  });

  describe("eventBody", () => {
    it("writes event and data lines and the blank line that ends the event", () => {
      expect(eventBody("chat", '{"key":"a","data":1}')).to.equal(
        'event: chat\ndata: {"key":"a","data":1}\n\n',
      );
    });

    it("accepts the session event's name", () => {
      expect(eventBody("session", '{"session":"s","status":"new"}')).to.equal(
        'event: session\ndata: {"session":"s","status":"new"}\n\n',
      );
    });

    it("keeps escaped line breaks of JSON text, which stay on one line", () => {
      const json = JSON.stringify({ text: "a\r\nb\rc\nd" });
      expect(json).to.equal('{"text":"a\\r\\nb\\rc\\nd"}');
      expect(eventBody("chat", json)).to.equal(`event: chat\ndata: ${json}\n\n`);
    });

    it("keeps U+2028 and U+2029, which are no SSE line ends", () => {
      const json = JSON.stringify("a\u2028b\u2029c");
      expect(eventBody("chat", json)).to.equal(`event: chat\ndata: ${json}\n\n`);
    });

    for (const [what, json] of [
      ["an LF", '{"a":\n1}'],
      ["a CR", '{"a":\r1}'],
      ["a CRLF", '{"a":1}\r\n'],
      ["a lone trailing CR", '"x"\r'],
    ] as const) {
      it(`refuses data holding ${what}`, () => {
        expect(() => eventBody("chat", json)).to.throw(TypeError);
      });
    }

    for (const name of ["", "1chat", "chat\n", "ch\rat", "a b", "a:b", "café", "a".repeat(65)]) {
      it(`refuses the event name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 5)}…` : name)}`, () => {
        expect(() => eventBody(name, "1")).to.throw(TypeError);
      });
    }
  });

  describe("notificationJson", () => {
    it("joins already-serialised key and data", () => {
      expect(notificationJson('{"a":1}', '"x"')).to.equal('{"key":{"a":1},"data":"x"}');
      expect(JSON.parse(notificationJson("[1,2]", "null"))).to.deep.equal({
        key: [1, 2],
        data: null,
      });
    });
  });

  describe("markNotFor", () => {
    it("adds the tab to the data of a notification body", () => {
      const body = eventBody("chat", notificationJson('"a"', '"x"'));
      expect(markNotFor(body, "t-1")).to.equal(
        'event: chat\ndata: {"key":"a","data":"x","notfor":"t-1"}\n\n',
      );
    });
    it("refuses what is not a notification body", () => {
      expect(() => markNotFor(":\n\n", "t")).to.throw(TypeError);
    });
  });

  describe("idLine", () => {
    it("writes id: <id> and one LF", () => {
      expect(idLine("abc:7")).to.equal("id: abc:7\n");
      expect(idLine("")).to.equal("id: \n");
    });

    for (const [what, id] of [
      ["LF", "a\nb"],
      ["CR", "a\rb"],
      ["CRLF", "a:1\r\n"],
      ["NUL", "a\0:1"],
    ] as const) {
      it(`refuses an id holding ${what}`, () => {
        expect(() => idLine(id)).to.throw(TypeError);
      });
    }
  });

  it("makes a whole notification event from its parts", () => {
    const text = idLine("s:3") + eventBody("doc", notificationJson("42", '{"t":"x"}'));
    expect(text).to.equal('id: s:3\nevent: doc\ndata: {"key":42,"data":{"t":"x"}}\n\n');
  });

  it("makes the same event as a stream writes it: id prefix, seq, and a body built once", () => {
    const body = notificationBody(eventHead("doc"), "42", '{"t":"x"}', "e1-7");
    expect(eventFrame(idPrefix("s"), 3, body)).to.equal(
      'id: s:3\nevent: doc\ndata: {"key":42,"data":{"t":"x"},"pos":"e1-7"}\n\n',
    );
    expect(eventFrame(idPrefix("s"), 3, notificationBody(eventHead("doc"), "42", "1"))).to.equal(
      idLine("s:3") + eventBody("doc", notificationJson("42", "1")),
    );
  });
});
