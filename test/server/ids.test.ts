/** The server's ids (server/ids.ts): each made by one function, the node named by a session id. */
import { expect } from "chai";
import { isSessionId, type SessionId } from "../../protocol/wire.js";
import { ANONYMOUS, identityIdOf, newNodeId, newSessionId, nodeOf } from "../../server/ids.js";

describe("server ids", () => {
  it("gives equal identities one id, whatever their key order", () => {
    expect(identityIdOf({ user: "ann", org: 1 })).to.equal('{"org":1,"user":"ann"}');
    expect(identityIdOf({ org: 1, user: "ann" })).to.equal(identityIdOf({ user: "ann", org: 1 }));
    expect(ANONYMOUS).to.equal("null");
  });

  it("refuses an identity that is not JSON", () => {
    expect(() => identityIdOf(new Map())).to.throw(TypeError);
    expect(() => identityIdOf(undefined)).to.throw(TypeError);
  });

  it("makes session ids that name their node", () => {
    const node = newNodeId();
    const session = newSessionId(node);
    expect(isSessionId(session)).to.equal(true);
    expect(nodeOf(session)).to.equal(node);
    expect(newSessionId(node)).to.not.equal(session);
    expect(newNodeId()).to.not.equal(node);
  });

  it("finds no node in a session id without one", () => {
    expect(nodeOf("nodot" as SessionId)).to.equal(undefined);
    expect(nodeOf(".leading" as SessionId)).to.equal(undefined);
  });
});
