/** `client.reconnect()`: a new session (after a login or logout), listening again to everything. */
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { client, closeAll, startServer, until } from "../helpers.js";

const chat = defineNotifier<string, string>("chat");

describe("client.reconnect()", () => {
  afterEach(closeAll);

  it("ends the session, opens a new one and listens again on it", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const c = client(url);
    const got: string[] = [];
    c.on(chat, (_key, value) => got.push(value));
    await c.listen(chat, "a");
    const first = c.session();
    c.reconnect();
    await until(() => c.state() === "open" && c.session() !== first, 3_000, "a new session");
    await until(() => hub.stats().listens === 1 && hub.stats().sessions === 1, 3_000, "one");
    await n.notify("a", "after");
    await until(() => got.includes("after"), 3_000, "the notification");
  });

  it("picks up a new identity (the headers it sends)", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat, { prepare: (user, value: string) => `${value}@${user}` });
    const headers: Record<string, string> = { "x-user": "ann" };
    const c = client(url, { headers });
    const got: string[] = [];
    c.on(chat, (_key, value) => got.push(value));
    await c.listen(chat, "a");
    const first = c.session();
    headers["x-user"] = "bob"; // the identity changed: listens on the old session are refused
    c.reconnect();
    await until(() => c.state() === "open" && c.session() !== first, 3_000, "a new session");
    // The old session (ann's) refuses bob's /close: it expires after sessionTimeout.
    await until(() => hub.stats().listens === 2, 3_000, "listening on the new one too");
    await n.notify("a", "x");
    await until(() => got.length === 1, 3_000, "the notification");
    expect(got).to.deep.equal(["x@bob"]);
  });

  it("does nothing once closed", () => {
    const c = client("http://127.0.0.1:9/notif");
    c.close();
    c.reconnect();
    expect(c.state()).to.equal("closed");
  });
});
