/**
 * `client.fetch` names the session (`X-Notif-Session`) only to the page's
 * origin and the hub's (SPEC §9, issue 11): an anonymous session's id is its
 * only credential and must not reach a third party.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { mayNameSession } from "../../client/origin.js";
import { client, closeAll, startServer, until } from "../helpers.js";

/** A plain server on port 0 that records the X-Notif-Session header of each request. */
async function recorder(): Promise<{
  origin: string;
  seen: (string | undefined)[];
  close(): Promise<void>;
}> {
  const seen: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers["x-notif-session"] as string | undefined);
    res.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe("client.fetch and the session id", () => {
  afterEach(closeAll);

  it("adds X-Notif-Session for the hub's origin only, not for another origin", async () => {
    const seenByHub: (string | undefined)[] = [];
    const { url } = await startServer({}, (app) => {
      app.get("/api/x", (req, res) => {
        seenByHub.push(req.headers["x-notif-session"] as string | undefined);
        res.send("ok");
      });
    });
    const other = await recorder();
    try {
      const c = client(url);
      await until(() => c.state() === "open", 3_000, "the stream");
      const session = c.session();
      await (await c.fetch(`${url.replace(/\/notif$/, "")}/api/x`)).text();
      await (await c.fetch(new URL(`${other.origin}/collect`))).text();
      await (await c.fetch(new Request(`${other.origin}/collect`))).text();
      expect(seenByHub).to.deep.equal([session]);
      expect(other.seen).to.deep.equal([undefined, undefined]);
    } finally {
      await other.close();
    }
  });

  describe("on a page (location set)", () => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, "location");
    before(() => {
      Object.defineProperty(globalThis, "location", {
        value: { href: "https://app.example/page" },
        configurable: true,
      });
    });
    after(() => {
      if (saved) Object.defineProperty(globalThis, "location", saved);
      else Reflect.deleteProperty(globalThis, "location");
    });

    it("names the session to the page's origin and the hub's, relative URLs included", () => {
      expect(mayNameSession("/api/say", "/notif")).to.equal(true);
      expect(mayNameSession("https://app.example/api", "https://hub.example/notif")).to.equal(true);
      expect(mayNameSession("https://hub.example/api", "https://hub.example/notif")).to.equal(true);
      expect(mayNameSession("https://tracker.example/p", "/notif")).to.equal(false);
      expect(mayNameSession("https://app.example.evil/p", "/notif")).to.equal(false);
      expect(mayNameSession("http://app.example/p", "/notif")).to.equal(false); // another scheme
      expect(mayNameSession("data:text/plain,x", "/notif")).to.equal(false);
    });
  });
});
