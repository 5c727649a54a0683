/**
 * Page hide ends the session when the hub is on another origin and the
 * client runs with `withCredentials: false` while a cookie is set (issue 11):
 * a `sendBeacon` would carry the cookie (another identity than the anonymous
 * stream's) and be refused, so the client sends a keepalive fetch with its
 * own credentials instead. Real Chromium, two origins on port 0.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect } from "chai";
import express from "express";
import { type Browser, chromium } from "playwright-core";
import { createHub } from "../../server/index.js";
import { until } from "../helpers.js";
import { CHROMIUM, CHROMIUM_ARGS, requireChromium } from "./tabs/setup.js";

async function listen(app: express.Express): Promise<{ origin: string; server: http.Server }> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe("page hide with a cross-origin hub, withCredentials false and a cookie (Chromium)", function () {
  this.timeout(60_000);
  let browser: Browser | undefined;
  let dist = "";
  const servers: http.Server[] = [];

  before(async function () {
    requireChromium(this);
    dist = await mkdtemp(join(tmpdir(), "sse-notif-beacon-"));
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const vite = join(root, "node_modules/vite/bin/vite.js");
    await promisify(execFile)(
      process.execPath,
      [vite, "build", "--config", "test/browser/beacon/vite.config.ts", "--outDir", dist],
      { cwd: root, env: { ...process.env, NODE_OPTIONS: "" } },
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    for (const server of servers) server.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    if (dist !== "") await rm(dist, { recursive: true, force: true });
  });

  it("ends the anonymous session on page hide, although the beacon would carry a cookie", async () => {
    const pageApp = express();
    const page = await listen(pageApp);
    const refused: number[] = [];
    const hub = createHub<string | null>({
      identify: (req) => /(?:^|;\s*)user=(\w+)/.exec(req.headers.cookie ?? "")?.[1] ?? null,
      onError: () => {},
    });
    const hubApp = express();
    const seen: (string | null)[] = [];
    hubApp.get("/whoami", (req, res) => {
      seen.push(/(?:^|;\s*)user=(\w+)/.exec(req.headers.cookie ?? "")?.[1] ?? null);
      res.setHeader("Access-Control-Allow-Origin", page.origin);
      res.setHeader("Access-Control-Allow-Credentials", "true");
      res.send("ok");
    });
    hubApp.use((req, res, next) => {
      res.setHeader("Access-Control-Allow-Origin", page.origin);
      res.setHeader("Access-Control-Allow-Headers", "content-type, x-notif-session");
      res.setHeader("Access-Control-Allow-Methods", "GET, POST");
      res.on(
        "finish",
        () => req.path.endsWith("/close") && res.statusCode !== 204 && refused.push(res.statusCode),
      );
      if (req.method === "OPTIONS") res.sendStatus(204);
      else next();
    });
    hubApp.use("/notif", hub.router());
    const hubServer = await listen(hubApp);
    servers.push(page.server, hubServer.server);
    const html = `<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>`;
    pageApp.get("/", (_req, res) => void res.type("html").send(html));
    pageApp.get("/page.js", (_req, res) => res.sendFile(join(dist, "page.js")));

    const context = await (browser as Browser).newContext();
    try {
      // A cookie for 127.0.0.1: every port gets it, the hub's too (same site, other origin).
      await context.addCookies([{ name: "user", value: "ann", url: hubServer.origin }]);
      const tab = await context.newPage();
      await tab.goto(`${page.origin}/?hub=${encodeURIComponent(`${hubServer.origin}/notif`)}`);
      await tab.waitForFunction(() => "harness" in window);
      await tab.evaluate(() =>
        (window as unknown as { harness: { start(): void } }).harness.start(),
      );
      await until(() => hub.stats().streams === 1, 10_000, "the stream");
      expect(hub.stats().sessions).to.equal(1);
      // The stream is anonymous (no cookie cross-origin), while a beacon would be ann's.
      const cookie = await tab.evaluate(
        async (url) => (await fetch(url, { credentials: "include" })).status,
        `${hubServer.origin}/whoami`,
      );
      expect(cookie).to.equal(200);
      expect(seen.at(-1)).to.equal("ann");
      await tab.close({ runBeforeUnload: true });
      await until(() => hub.stats().sessions === 0, 5_000, "the session to end on page hide");
      expect(refused).to.deep.equal([]);
    } finally {
      await context.close();
      await hub.close();
    }
  });
});
