/**
 * An open stream's connection is released from node:http once its headers
 * are out (server/release.ts): its request and response can be collected,
 * and middleware that ran before the router still works.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { expect } from "chai";
import cors from "cors";
import express from "express";
import session from "express-session";
// @ts-expect-error express 4 is installed under an alias, without its own types
import express4 from "express4";
import helmet from "helmet";
import { defineNotifier } from "../../protocol/contract.js";
import { createHub, type Hub } from "../../server/index.js";
import { closeAll, listen, notifications, openRaw, startServer, until } from "../helpers.js";

const chat = defineNotifier<string, string>("chat");

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Whether every object behind `refs` is collected, after a few full GCs. */
async function collected(refs: WeakRef<object>[]): Promise<boolean> {
  for (let i = 0; i < 10 && refs.some((r) => r.deref() !== undefined); i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  return refs.every((r) => r.deref() === undefined);
}

async function serve(handler: http.RequestListener, hub: Hub<unknown>) {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}/notif`,
    async close() {
      await hub.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Opens a stream, listens and gets one notification. */
async function roundTrip(url: string, notify: (value: string) => Promise<void>, headers = {}) {
  const raw = await openRaw(`${url}/events`, headers);
  await raw.event(0);
  expect((await listen(url, raw.session(), "chat", "k", headers)).status).to.equal(204);
  await notify("after release");
  await raw.event(1);
  expect(notifications(raw)).to.deep.equal([{ key: "k", data: "after release" }]);
  return raw;
}

describe("an open stream's connection, released from node:http", () => {
  afterEach(closeAll);

  const mounts = {
    "Express 5 router()": (hub: Hub<unknown>, keep: (req: object, res: object) => void) => {
      const app = express();
      app.use((req, res, next) => {
        if (req.method === "GET") keep(req, res);
        next();
      });
      app.use("/notif", hub.router());
      return app;
    },
    "Express 4 router()": (hub: Hub<unknown>, keep: (req: object, res: object) => void) => {
      const app = express4();
      app.use((req: object, res: object, next: () => void) => {
        if ((req as { method: string }).method === "GET") keep(req, res);
        next();
      });
      app.use("/notif", hub.router());
      return app;
    },
    "handler()": (hub: Hub<unknown>, keep: (req: object, res: object) => void) => {
      const serveHub = hub.handler("/notif");
      return (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (req.method === "GET") keep(req, res);
        if (!serveHub(req, res)) res.writeHead(404).end();
      };
    },
  };

  for (const [name, mount] of Object.entries(mounts)) {
    it(`keeps neither the request nor the response of a stream on ${name}, and still delivers`, async () => {
      const hub = createHub({ onError: () => {} });
      const n = hub.notifier(chat);
      const refs: WeakRef<object>[] = [];
      const app = mount(hub, (req, res) => refs.push(new WeakRef(req), new WeakRef(res)));
      const server = await serve(app as http.RequestListener, hub);
      try {
        const raw = await roundTrip(server.url, (v) => n.notify("k", v));
        expect(refs).to.have.length(2);
        expect(await collected(refs), "req and res collected while the stream is open").to.equal(
          true,
        );
        await n.notify("k", "still there");
        await raw.event(2);
        raw.close();
        await until(() => hub.stats().streams === 0, 3_000, "the stream to end");
      } finally {
        await server.close();
      }
    });
  }

  it("works behind cors, helmet and express-session, whose headers and session it keeps", async () => {
    const { url, hub } = await startServer<string | null>(
      {
        identify: (req) => (req as unknown as { session: { user?: string } }).session.user ?? null,
      },
      (app) => {
        app.use(cors({ origin: "http://app.example", credentials: true }));
        app.use(helmet());
        app.use(session({ secret: "test", resave: false, saveUninitialized: true }));
        app.post("/login/:user", (req, res) => {
          (req.session as unknown as { user: string }).user = req.params.user;
          res.status(204).end();
        });
      },
    );
    const n = hub.notifier(chat);
    const login = await fetch(`${url.replace("/notif", "")}/login/ann`, { method: "POST" });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    expect(cookie).to.match(/^connect\.sid=/);
    const headers = { cookie, origin: "http://app.example" };
    const raw = await roundTrip(url, (v) => n.notify("k", v), headers);
    expect(raw.headers["access-control-allow-origin"]).to.equal("http://app.example");
    expect(raw.headers["access-control-allow-credentials"]).to.equal("true");
    expect(raw.headers["x-content-type-options"]).to.equal("nosniff");
    expect(raw.headers["content-security-policy"]).to.be.a("string");
    expect(raw.headers["content-type"]).to.equal("text/event-stream; charset=utf-8");
    expect(hub.stats().sessions).to.equal(1);
    const other = await listen(url, raw.session(), "chat", "k", { origin: "http://app.example" });
    expect(other.status, "another identity (no session cookie) may not use it").to.equal(403);
    const fresh = await openRaw(`${url}/events`);
    await fresh.event(0);
    expect(fresh.headers["set-cookie"]?.[0], "a session started by a stream").to.match(
      /^connect\.sid=/,
    );
  });

  it("tells close listeners of middleware when the client leaves, and lets res.socket cut the stream", async () => {
    const closed: string[] = [];
    const responses: http.ServerResponse[] = [];
    const { url, hub } = await startServer({}, (app) => {
      app.use("/notif/events", (req, res, next) => {
        responses.push(res);
        res.on("close", () => closed.push("res"));
        req.on("close", () => closed.push("req"));
        next();
      });
    });
    const n = hub.notifier(chat);
    const first = await roundTrip(url, (v) => n.notify("k", v));
    first.close();
    await until(() => closed.length === 2, 3_000, "close on req and res");
    expect(closed.sort()).to.deep.equal(["req", "res"]);
    const again = await openRaw(`${url}/events`, { "last-event-id": `${first.session()}:1` });
    await again.event(0);
    expect(again.status_()).to.equal("resumed");
    responses.at(-1)?.socket?.destroy();
    await again.ended();
    await until(() => hub.stats().streams === 0, 3_000, "the cut stream to end");
    expect(hub.stats().sessions, "kept for the client to resume").to.equal(1);
  });

  it("is still closed by server.closeAllConnections()", async () => {
    const { url, hub, server } = await startServer();
    hub.notifier(chat);
    const raw = await openRaw(`${url}/events`);
    await raw.event(0);
    server.closeAllConnections();
    await raw.ended();
    await until(() => hub.stats().streams === 0, 3_000, "the stream to end");
  });
});
