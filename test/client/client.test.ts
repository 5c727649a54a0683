import { expect } from "chai";
import type { NotifStatus } from "../../client/index.js";
import { RequestError } from "../../client/listens.js";
import { defineNotifier } from "../../protocol/contract.js";
import { client, closeAll, startServer, streamGate, until } from "../helpers.js";

const chat = defineNotifier<{ room: string }, string>("chat");

/** A fetch that records the POSTs it makes. */
function recordingFetch() {
  const posts: { path: string; body: unknown }[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    if (init?.method === "POST") {
      posts.push({ path: new URL(String(input)).pathname, body: JSON.parse(String(init.body)) });
    }
    return fetch(input, init);
  };
  return { posts, fetch: wrapped };
}

/** A client that records its statuses and the values it gets on `chat`. */
function recordingClient(url: string) {
  const c = client(url);
  const statuses: NotifStatus[] = [];
  c.onStatus((status) => statuses.push(status));
  const got: unknown[] = [];
  c.on(chat, (_key, value) => got.push(value));
  return { c, statuses, got };
}

describe("createNotifClient", () => {
  afterEach(closeAll);

  it("learns its session, listens, and hands notifications to `on` handlers", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const c = client(url);
    const got: [unknown, unknown][] = [];
    c.on(chat, (key, value) => got.push([key, value]));
    await c.listen(chat, { room: "a" });
    expect(c.state()).to.equal("open");
    expect(c.session()).to.be.a("string");
    expect(n.listeners({ room: "a" })).to.equal(1);
    await n.notify({ room: "a" }, "hello");
    await until(() => got.length === 1);
    expect(got).to.deep.equal([[{ room: "a" }, "hello"]]);
  });

  it("counts references per key and batches listens made together into one request", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const { posts, fetch } = recordingFetch();
    const c = client(url, { fetch });
    await Promise.all([
      c.listen(chat, { room: "a" }),
      c.listen(chat, { room: "a" }),
      c.listen(chat, { room: "b" }),
    ]);
    expect(posts).to.have.length(1);
    expect(posts[0]?.path).to.equal("/notif/listen");
    expect((posts[0]!.body as { items: unknown[] }).items).to.deep.equal([
      { notifier: "chat", key: { room: "a" }, since: null },
      { notifier: "chat", key: { room: "b" }, since: null },
    ]);
    await c.unlisten(chat, { room: "a" });
    expect(n.listeners({ room: "a" })).to.equal(1);
    await c.unlisten(chat, { room: "a" });
    expect(n.listeners({ room: "a" })).to.equal(0);
    expect(posts.map((p) => p.path)).to.deep.equal(["/notif/listen", "/notif/unlisten"]);
  });

  it("resumes after a dropped connection: status resumed, nothing missed", async () => {
    let gate: ReturnType<typeof streamGate> | undefined;
    const { url, hub, server } = await startServer({ retry: 20 }, (app) => {
      gate = streamGate(app);
    });
    const n = hub.notifier(chat);
    const { c, statuses, got } = recordingClient(url);
    await c.listen(chat, { room: "a" });
    const session = c.session();
    await n.notify({ room: "a" }, "1");
    await until(() => got.length === 1);
    gate?.hold();
    server.closeAllConnections();
    await until(() => hub.stats().streams === 0);
    await n.notify({ room: "a" }, "2");
    await n.notify({ room: "a" }, "3");
    gate?.release();
    await until(() => got.length === 3, 3_000, "replayed events");
    expect(got).to.deep.equal(["1", "2", "3"]);
    expect(c.session()).to.equal(session);
    expect(statuses.at(-1)).to.deep.include({ state: "open", resumed: true, gap: false });
  });

  it("reports gap when the server could not keep everything", async () => {
    let gate: ReturnType<typeof streamGate> | undefined;
    const { url, hub, server } = await startServer({ retry: 20, retention: 2 }, (app) => {
      gate = streamGate(app);
    });
    const n = hub.notifier(chat);
    const c = client(url);
    const statuses: NotifStatus[] = [];
    c.onStatus((status) => statuses.push(status));
    await c.listen(chat, { room: "a" });
    gate?.hold();
    server.closeAllConnections();
    await until(() => hub.stats().streams === 0);
    for (const value of ["1", "2", "3", "4"]) await n.notify({ room: "a" }, value);
    gate?.release();
    await until(() => statuses.some((s) => s.gap), 3_000, "a gap status");
    expect(statuses.at(-1)).to.deep.include({ state: "open", resumed: false, gap: true });
  });

  it("listens again by itself when its session is gone, and says so as a gap", async () => {
    // Without history a lost session is a gap; with it the client recovers by position.
    const { url, hub } = await startServer({ retry: 20, history: false });
    const n = hub.notifier(chat);
    const { c, statuses, got } = recordingClient(url);
    await c.listen(chat, { room: "a" });
    await c.listen(chat, { room: "b" });
    const first = c.session();
    const listenedAtStatus: number[][] = [];
    c.onStatus(() =>
      listenedAtStatus.push([n.listeners({ room: "a" }), n.listeners({ room: "b" })]),
    );
    await fetch(`${url}/close`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ session: first }),
    });
    await until(() => statuses.at(-1)?.gap, 3_000, "the gap status");
    expect(c.session()).to.not.equal(first);
    expect(statuses.at(-1)).to.deep.include({ state: "open", resumed: false, gap: true });
    expect(listenedAtStatus.at(-1), "listening again before the gap is told").to.deep.equal([1, 1]);
    await n.notify({ room: "b" }, "back");
    await until(() => got.includes("back"));
  });

  it("rejects only the refused listen of a batch, with the server's code", async () => {
    const { url, hub } = await startServer();
    hub.notifier(chat, { authorize: (_identity, key) => key.room !== "secret" });
    const c = client(url);
    const [open, secret] = await Promise.allSettled([
      c.listen(chat, { room: "open" }),
      c.listen(chat, { room: "secret" }),
    ]);
    expect(open.status).to.equal("fulfilled");
    expect(secret.status).to.equal("rejected");
    const reason = (secret as PromiseRejectedResult).reason as RequestError;
    expect(reason).to.be.instanceOf(RequestError);
    expect(reason.code).to.equal("forbidden");
    expect(reason.status).to.equal(403);
    expect(hub.stats().listens).to.equal(1);
  });

  it("sends its headers on the stream and on POSTs, and X-Notif-Session with client.fetch", async () => {
    const seen: unknown[] = [];
    const { url, hub, origin } = await startServer({}, (app, hub) => {
      app.post("/whoami", (req, res) => {
        seen.push([req.headers["x-user"], hub.sessionOf(req)]);
        res.sendStatus(204);
      });
    });
    hub.notifier(chat);
    const c = client(url, { headers: { "x-user": "ann" } });
    await c.listen(chat, { room: "a" }); // would be 403 if the stream's identity differed
    await c.fetch(`${origin}/whoami`, { method: "POST" });
    expect(seen).to.deep.equal([["ann", c.session()]]);
  });

  it("close() ends the session on the server", async () => {
    const { url, hub } = await startServer();
    hub.notifier(chat);
    const c = client(url);
    await c.listen(chat, { room: "a" });
    c.close();
    expect(c.state()).to.equal("closed");
    await until(() => hub.stats().sessions === 0, 3_000, "the session to end");
    expect(hub.stats().listens).to.equal(0);
    try {
      await c.listen(chat, { room: "a" });
      expect.fail("listen after close must reject");
    } catch (error) {
      expect(String(error)).to.match(/closed/);
    }
  });
});
