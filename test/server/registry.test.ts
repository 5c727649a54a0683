import { expect } from "chai";
import { topicOf } from "../../protocol/keys.js";
import type { SessionId } from "../../protocol/wire.js";
import { identityIdOf } from "../../server/ids.js";
import { type Member, Registry } from "../../server/registry.js";

function member(id: string, identityId = identityIdOf(null)): Member {
  return { id: id as SessionId, identityId, topics: new Map() };
}

function ids(sessions: Iterable<Member> | undefined): string[] {
  return [...(sessions ?? [])].map((s) => s.id).sort();
}

describe("Registry", () => {
  let registry: Registry<Member>;
  beforeEach(() => {
    registry = new Registry();
  });

  describe("sessions", () => {
    it("adds and finds sessions by id", () => {
      const a = member("a");
      registry.add(a);
      expect(registry.session("a" as SessionId)).to.equal(a);
      expect(registry.session("b" as SessionId)).to.equal(undefined);
      expect(registry.sessionCount).to.equal(1);
      expect([...registry.sessions()]).to.deep.equal([a]);
    });

    it("refuses to add a second session with the same id", () => {
      registry.add(member("a"));
      expect(() => registry.add(member("a"))).to.throw(Error);
      expect(registry.sessionCount).to.equal(1);
    });

    it("groups sessions by identity", () => {
      registry.add(member("a1", identityIdOf("ann")));
      registry.add(member("a2", identityIdOf("ann")));
      registry.add(member("b1", identityIdOf("bob")));
      expect(ids(registry.sessionsOf(identityIdOf("ann")))).to.deep.equal(["a1", "a2"]);
      expect(ids(registry.sessionsOf(identityIdOf("bob")))).to.deep.equal(["b1"]);
      expect(registry.sessionsOf(identityIdOf("cat"))).to.equal(undefined);
    });

    it("drops an identity's group when its last session is removed", () => {
      const a1 = member("a1", identityIdOf("ann"));
      const a2 = member("a2", identityIdOf("ann"));
      registry.add(a1);
      registry.add(a2);
      registry.remove(a1);
      expect(ids(registry.sessionsOf(identityIdOf("ann")))).to.deep.equal(["a2"]);
      registry.remove(a2);
      expect(registry.sessionsOf(identityIdOf("ann"))).to.equal(undefined);
      expect(registry.sessionCount).to.equal(0);
    });
  });

  describe("listen and unlisten", () => {
    it("says whether a listen created the topic", () => {
      const a = member("a");
      const b = member("b");
      registry.add(a);
      registry.add(b);
      expect(registry.listen(a, topicOf("chat", "1"))).to.equal(true);
      expect(registry.listen(b, topicOf("chat", "1"))).to.equal(false);
      expect(registry.topicCount).to.equal(1);
      expect(registry.listenCount).to.equal(2);
    });

    it("counts a second listen on the same topic once", () => {
      const a = member("a");
      registry.add(a);
      registry.listen(a, topicOf("chat", "1"));
      expect(registry.listen(a, topicOf("chat", "1"))).to.equal(false);
      expect(registry.listenCount).to.equal(1);
      expect(registry.listeners(topicOf("chat", "1"))?.sessions.size).to.equal(1);
      expect([...a.topics.keys()]).to.deep.equal(["chat:1"]);
    });

    it("counts topics and listens across sessions and notifiers", () => {
      const a = member("a");
      const b = member("b");
      registry.add(a);
      registry.add(b);
      registry.listen(a, topicOf("chat", "1"));
      registry.listen(a, topicOf("doc", "1"));
      registry.listen(b, topicOf("chat", "1"));
      registry.listen(b, topicOf("chat", "2"));
      expect(registry.topicCount).to.equal(3);
      expect(registry.listenCount).to.equal(4);
    });

    it("says whether an unlisten emptied the topic, and drops it then", () => {
      const a = member("a");
      const b = member("b");
      registry.add(a);
      registry.add(b);
      registry.listen(a, topicOf("chat", "1"));
      registry.listen(b, topicOf("chat", "1"));
      expect(registry.unlisten(a, topicOf("chat", "1"))).to.equal(false);
      expect(registry.unlisten(b, topicOf("chat", "1"))).to.equal(true);
      expect(registry.listeners(topicOf("chat", "1"))).to.equal(undefined);
      expect(registry.topicCount).to.equal(0);
      expect(registry.listenCount).to.equal(0);
    });

    it("ignores an unlisten of a topic not listened to", () => {
      const a = member("a");
      const b = member("b");
      registry.add(a);
      registry.add(b);
      registry.listen(b, topicOf("chat", "1"));
      expect(registry.unlisten(a, topicOf("chat", "1"))).to.equal(false);
      expect(registry.unlisten(a, topicOf("chat", "9"))).to.equal(false);
      expect(registry.listenCount).to.equal(1);
      registry.unlisten(b, topicOf("chat", "1"));
      expect(registry.unlisten(b, topicOf("chat", "1"))).to.equal(false);
      expect(registry.listenCount).to.equal(0);
    });

    it("groups a topic's listeners by identity", () => {
      const a1 = member("a1", identityIdOf("ann"));
      const a2 = member("a2", identityIdOf("ann"));
      const b1 = member("b1", identityIdOf("bob"));
      for (const m of [a1, a2, b1]) {
        registry.add(m);
        registry.listen(m, topicOf("chat", "1"));
      }
      const listeners = registry.listeners(topicOf("chat", "1"));
      expect(ids(listeners?.sessions)).to.deep.equal(["a1", "a2", "b1"]);
      expect([...(listeners?.byIdentity.keys() ?? [])].sort()).to.deep.equal(['"ann"', '"bob"']);
      expect(ids(listeners?.byIdentity.get(identityIdOf("ann")))).to.deep.equal(["a1", "a2"]);
      registry.unlisten(b1, topicOf("chat", "1"));
      expect(listeners?.byIdentity.has(identityIdOf("bob"))).to.equal(false);
      registry.unlisten(a1, topicOf("chat", "1"));
      expect(ids(listeners?.byIdentity.get(identityIdOf("ann")))).to.deep.equal(["a2"]);
    });
  });

  describe("remove", () => {
    it("removes every listen of the session and returns the topics it emptied", () => {
      const a = member("a");
      const b = member("b");
      registry.add(a);
      registry.add(b);
      registry.listen(a, topicOf("chat", "1"));
      registry.listen(a, topicOf("chat", "2"));
      registry.listen(a, topicOf("doc", "1"));
      registry.listen(b, topicOf("chat", "1"));
      expect(registry.remove(a).sort()).to.deep.equal(["chat:2", "doc:1"]);
      expect(a.topics.size).to.equal(0);
      expect(registry.session("a" as SessionId)).to.equal(undefined);
      expect(registry.topicCount).to.equal(1);
      expect(registry.listenCount).to.equal(1);
      expect(ids(registry.listeners(topicOf("chat", "1"))?.sessions)).to.deep.equal(["b"]);
    });

    it("leaves nothing behind once every session is removed", () => {
      const sessions = ["a", "b", "c"].map((id, i) => member(id, identityIdOf(`u${i % 2}`)));
      for (const s of sessions) {
        registry.add(s);
        registry.listen(s, topicOf("chat", "1"));
        registry.listen(s, topicOf("doc", s.id));
      }
      for (const s of sessions) registry.remove(s);
      expect(registry.sessionCount).to.equal(0);
      expect(registry.topicCount).to.equal(0);
      expect(registry.listenCount).to.equal(0);
      expect(registry.sessionsOf(identityIdOf("u0"))).to.equal(undefined);
    });

    it("is idempotent and ignores a session it does not hold", () => {
      const a = member("a");
      registry.add(a);
      registry.listen(a, topicOf("chat", "1"));
      expect(registry.remove(a)).to.deep.equal(["chat:1"]);
      expect(registry.remove(a)).to.deep.equal([]);
      expect(registry.remove(member("zz"))).to.deep.equal([]);
    });

    it("does not remove a registered session through another object with its id", () => {
      const a = member("a");
      registry.add(a);
      registry.listen(a, topicOf("chat", "1"));
      const impostor = member("a");
      impostor.topics.set(topicOf("chat", "1"), 1);
      expect(registry.remove(impostor)).to.deep.equal([]);
      expect(registry.session("a" as SessionId)).to.equal(a);
      expect(registry.listenCount).to.equal(1);
    });
  });
});
