/**
 * The client when its session is lost, on a real server: the defects issue 10
 * lists, each reproduced as the issue found it.
 */
import { expect } from "chai";
import type { NotifErrorContext, NotifStatus } from "../../client/index.js";
import { defineNotifier } from "../../protocol/contract.js";
import { client, closeAll, startServer, until } from "../helpers.js";

const chat = defineNotifier<{ room: string }, string>("chat");

/** Ends a session on the server as `POST /close` does. */
async function closeSession(url: string, session: string | undefined): Promise<void> {
  const res = await fetch(`${url}/close`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ session }),
  });
  expect(res.status).to.equal(204);
}

/** An error answer as the hub writes it. */
function answer(status: number, code: string): Response {
  return new Response(JSON.stringify({ error: { code, message: code } }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

describe("client: a lost session (issue 10 defects)", () => {
  afterEach(closeAll);

  it("settles unlisten() when the session is gone (it waited for ever)", async () => {
    const { url, hub } = await startServer({ retry: 20 });
    hub.notifier(chat);
    const c = client(url);
    await c.listen(chat, { room: "a" });
    await closeSession(url, c.session());
    let settled = false;
    void c.unlisten(chat, { room: "a" }).then(() => {
      settled = true;
    });
    await until(() => settled, 3_000, "unlisten to settle");
    expect(hub.stats().listens).to.equal(0);
  });

  it("backs off when /listen keeps answering 410 (it made hundreds of GET /events a second)", async () => {
    let streams = 0;
    const { url, hub } = await startServer({ retry: 20 }, (app) => {
      app.use((req, _res, next) => {
        if (req.method === "GET" && req.path === "/notif/events") streams += 1;
        next();
      });
    });
    hub.notifier(chat);
    const c = client(url, {
      reconnect: { retry: 100 },
      fetch: (input, init) =>
        String(input).endsWith("/listen")
          ? Promise.resolve(answer(410, "unknown_session"))
          : fetch(input, init),
    });
    void c.listen(chat, { room: "a" }).catch(() => {});
    await until(() => streams >= 2, 3_000, "a second stream");
    const start = streams;
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // a window to count in, not a wait for an event
    // Bounds 100, 200, 400, 800 ms…: about 4 streams a second; the defect made ~300.
    expect(streams - start).to.be.at.most(10);
    expect(hub.stats().sessions).to.be.at.most(streams);
  });

  it("reports the new session only once the re-listen went through after a 503", async () => {
    const { url, hub } = await startServer({ retry: 20 });
    const n = hub.notifier(chat);
    let first: string | undefined;
    let refusals = 0;
    const c = client(url, {
      fetch: async (input, init) => {
        const relisten =
          String(input).endsWith("/listen") && !String(init?.body).includes(`"${first}"`);
        if (first !== undefined && relisten && refusals++ === 0) return answer(503, "unavailable");
        return fetch(input, init);
      },
    });
    const listenedAt: number[] = [];
    const statuses: NotifStatus[] = [];
    c.onStatus((status) => {
      statuses.push(status);
      listenedAt.push(n.listeners({ room: "a" }));
    });
    await c.listen(chat, { room: "a" });
    first = c.session();
    await closeSession(url, first);
    await until(
      () => statuses.some((s) => s.session !== first && s.state === "open"),
      5_000,
      "the new session's status",
    );
    const told = statuses.findIndex((s) => s.session !== first && s.state === "open");
    expect(refusals, "the first re-listen was refused").to.be.at.least(1);
    expect(listenedAt[told], "listening again when told").to.equal(1);
    expect(statuses[told]?.gap || statuses[told]?.recovered).to.equal(true);
  });

  it("tells onError and lost of a key refused on the automatic re-listen (it was dropped silently)", async () => {
    const { url, hub } = await startServer({ retry: 20 });
    let allowed = true;
    hub.notifier(chat, { authorize: (_identity, key) => allowed || key.room !== "secret" });
    const errors: [Error, NotifErrorContext][] = [];
    const c = client(url, { onError: (error, context) => errors.push([error, context]) });
    const statuses: NotifStatus[] = [];
    c.onStatus((status) => statuses.push(status));
    await Promise.all([c.listen(chat, { room: "open" }), c.listen(chat, { room: "secret" })]);
    const first = c.session();
    allowed = false;
    await closeSession(url, first);
    await until(() => statuses.some((s) => s.session !== first && s.gap), 5_000, "the gap");
    expect(
      errors.map(([error, context]) => [(error as { code?: string }).code, context]),
    ).to.deep.equal([
      ["forbidden", { type: "refused", notifier: "chat", key: { room: "secret" } }],
    ]);
    const gap = statuses.find((s) => s.session !== first && s.gap);
    expect(gap?.lost).to.deep.include({ notifier: "chat", key: { room: "secret" } });
    expect(hub.stats().listens, "the other key is listened again").to.equal(1);
  });
});
