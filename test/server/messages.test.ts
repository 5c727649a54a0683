/**
 * The bus message parsers alone: what a node accepts from the bus, and the
 * clear TypeError for everything else (the hub reports it and goes on).
 */
import { expect } from "chai";
import fc from "fast-check";
import { topicOf } from "../../protocol/keys.js";
import { newNodeId } from "../../server/ids.js";
import {
  channelTopic,
  nodeChannel,
  parseNodeMessage,
  parseTopicMessage,
  topicChannel,
} from "../../server/messages.js";

const SESSION = "s".repeat(22);
const notify = {
  type: "notify",
  node: "n1",
  id: 7,
  notifier: "chat",
  key: { room: "a" },
  value: { text: "hi" },
  notfor: {},
};

function text(value: unknown): string {
  return JSON.stringify(value);
}

describe("bus messages", () => {
  describe("channels", () => {
    it("puts topics and nodes on distinct channels and reads a topic back", () => {
      expect(topicChannel(topicOf("chat", '"a"'))).to.equal('t:chat:"a"');
      expect(channelTopic(topicChannel(topicOf("chat", '"a"')))).to.equal('chat:"a"');
      expect(channelTopic(nodeChannel(newNodeId()))).to.equal(undefined);
    });
  });

  describe("parseTopicMessage", () => {
    it("accepts a notify, with and without a position and an exclusion", () => {
      expect(parseTopicMessage(text(notify))).to.deep.equal(notify);
      const full = { ...notify, pos: "e1-3", notfor: { session: SESSION, tab: "t".repeat(16) } };
      expect(parseTopicMessage(text(full))).to.deep.equal(full);
    });

    it("accepts an unlistenIdentity", () => {
      const message = {
        type: "unlistenIdentity",
        node: "n1",
        notifier: "chat",
        key: 1,
        identity: '"ann"',
      };
      expect(parseTopicMessage(text(message))).to.deep.equal(message);
    });

    const refused: [string, unknown, RegExp][] = [
      ["not an object", [1, 2], /without node or notifier/],
      ["no node", { ...notify, node: undefined }, /without node or notifier/],
      ["no key", { ...notify, key: undefined }, /without key/],
      ["no value", { ...notify, value: undefined }, /without value/],
      ["a notfor that is a string", { ...notify, notfor: "x" }, /bad notfor/],
      [
        "a notfor tab without a session",
        { ...notify, notfor: { tab: "t".repeat(16) } },
        /bad notfor/,
      ],
      ["an id that is not an integer", { ...notify, id: 1.5 }, /bad notfor/],
      ["a pos that is a number", { ...notify, pos: 3 }, /pos that is not a string/],
      [
        "an unlistenIdentity without identity",
        { ...notify, type: "unlistenIdentity" },
        /without identity/,
      ],
      ["an unknown type", { ...notify, type: "shout" }, /unknown bus message type "shout"/],
    ];
    for (const [what, value, message] of refused) {
      it(`refuses ${what} with a TypeError`, () => {
        expect(() => parseTopicMessage(text(value))).to.throw(TypeError, message);
      });
    }

    it("refuses text that is not JSON (SyntaxError, which the hub reports the same way)", () => {
      expect(() => parseTopicMessage("{")).to.throw(SyntaxError);
    });

    it("never throws anything but a TypeError or SyntaxError, whatever the bus sends", () => {
      fc.assert(
        fc.property(fc.oneof(fc.string(), fc.json()), (input) => {
          try {
            parseTopicMessage(input);
          } catch (error) {
            return error instanceof TypeError || error instanceof SyntaxError;
          }
          return true;
        }),
      );
    });
  });

  describe("parseNodeMessage", () => {
    const request = {
      type: "request",
      node: "n2",
      id: 1,
      request: {
        op: "listen",
        session: SESSION,
        identityId: '"ann"',
        items: [{ notifier: "chat", key: "a", since: null }],
      },
    };

    it("accepts a request and a reply, with or without items", () => {
      expect(parseNodeMessage(text(request))).to.deep.equal(request);
      const reply = { type: "reply", node: "n1", id: 1 };
      expect(parseNodeMessage(text(reply))).to.deep.equal(reply);
      const items = { ...reply, items: [{ pos: "e1-0", recovered: null }] };
      expect(parseNodeMessage(text(items))).to.deep.equal(items);
      const replay = {
        ...request,
        request: {
          ...request.request,
          items: [{ notifier: "c", key: 1, since: "e-1", replay: true }],
        },
      };
      expect(parseNodeMessage(text(replay))).to.deep.equal(replay);
    });

    it("keeps a known error code and turns an unknown one into internal", () => {
      const known = {
        type: "reply",
        node: "n1",
        id: 2,
        error: { code: "forbidden", message: "no" },
      };
      expect(parseNodeMessage(text(known))).to.deep.equal(known);
      const unknown = { ...known, error: { code: "from_the_future", message: "later" } };
      const parsed = parseNodeMessage(text(unknown));
      expect(parsed.type === "reply" && parsed.error?.code).to.equal("internal");
      expect(parsed.type === "reply" && parsed.error?.message).to.match(/from_the_future.*later/);
    });

    it("cuts a long error message from another node to 1,000 characters", () => {
      const long = {
        type: "reply",
        node: "n1",
        id: 3,
        error: { code: "internal", message: "x".repeat(5000) },
      };
      const parsed = parseNodeMessage(text(long));
      expect(parsed.type === "reply" && parsed.error?.message.length).to.equal(1000);
    });

    const refused: [string, unknown, RegExp][] = [
      ["no id", { ...request, id: "1" }, /without node or id/],
      ["an unknown op", { ...request, request: { ...request.request, op: "drop" } }, /bad request/],
      [
        "a bad session id",
        { ...request, request: { ...request.request, session: "a b" } },
        /bad request/,
      ],
      [
        "an identityId that is not a string",
        { ...request, request: { ...request.request, identityId: 1 } },
        /bad request/,
      ],
      [
        "an item without key",
        { ...request, request: { ...request.request, items: [{ notifier: "chat" }] } },
        /bad request/,
      ],
      [
        "a since that is a number",
        {
          ...request,
          request: { ...request.request, items: [{ notifier: "c", key: 1, since: 4 }] },
        },
        /bad request/,
      ],
      [
        "a replay that is not a boolean",
        {
          ...request,
          request: { ...request.request, items: [{ notifier: "c", key: 1, replay: 1 }] },
        },
        /bad request/,
      ],
      [
        "reply items without pos",
        { type: "reply", node: "n", id: 1, items: [{ recovered: true }] },
        /bad items/,
      ],
      [
        "a reply error without message",
        { type: "reply", node: "n", id: 1, error: { code: "internal" } },
        /bad error/,
      ],
      ["an unknown type", { type: "ping", node: "n", id: 1 }, /unknown node message type "ping"/],
    ];
    for (const [what, value, message] of refused) {
      it(`refuses ${what} with a TypeError`, () => {
        expect(() => parseNodeMessage(text(value))).to.throw(TypeError, message);
      });
    }
  });
});
