/**
 * Topics off a BroadcastChannel (client/tabs.ts): a message is taken only
 * when each topic it carries has the shape topicOf gives, and a listen's
 * topic is its item's notifier's (the holder reads the key id off it).
 */
import { expect } from "chai";
import { parseTabMessage } from "../../client/tabs.js";
import { topicOf } from "../../protocol/keys.js";

const item = { notifier: "chat", key: 1 };
const topic = topicOf("chat", "1");

describe("tab messages: topics", () => {
  it("takes the topics topicOf makes", () => {
    const ok: unknown[] = [
      { type: "listen", from: "t", topic, item },
      { type: "listened", term: 1, topic, error: undefined },
      { type: "held", term: 1, tab: "abc", add: [{ topic, item }], remove: [topic], all: false },
    ];
    for (const message of ok) expect(parseTabMessage(message)).to.equal(message);
  });

  it("refuses a topic without the name:keyId shape, or a listen's not of its notifier", () => {
    const bad: unknown[] = [
      { type: "listen", from: "t", topic: "chat", item },
      { type: "listen", from: "t", topic: topicOf("doc", "1"), item },
      { type: "unlisten", from: "t", topic: topicOf("chats", "1"), item, req: 1 },
      { type: "join", from: "t", listens: [{ topic: "1", item }], after: undefined },
      { type: "listened", term: 1, topic: "chat", error: undefined },
      { type: "held", term: 1, tab: "abc", add: [], remove: ["chat"], all: false },
    ];
    for (const message of bad)
      expect(parseTabMessage(message), JSON.stringify(message)).to.equal(undefined);
  });
});
