/**
 * HTTP/2 in a real browser (issue 11): Chromium's own EventSource on
 * `hub.handler()` over `http2.createSecureServer` (self-signed, so
 * `--ignore-certificate-errors`): the stream is h2, listens and notifies
 * work, and a resume replays what was notified meanwhile. (Heartbeats over
 * h2 are checked byte for byte in test/e2e/http2.test.ts: EventSource hides
 * comments.)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { type Browser, chromium } from "playwright-core";
import { defineNotifier } from "../../protocol/contract.js";
import { until } from "../helpers.js";
import { type H2Server, startH2 } from "../http2.js";
import { CHROMIUM, CHROMIUM_ARGS, requireChromium } from "./tabs/setup.js";

/** A page with no bundle: the browser's EventSource and fetch, driven from the test. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>h2</title><script>
window.got = []; window.session = ""; window.status = ""; window.lastId = "";
window.open_ = (last) => {
  const es = new EventSource("/notif/events" + (last ? "?lastEventId=" + encodeURIComponent(last) : ""));
  window.es = es;
  es.addEventListener("session", (e) => { const d = JSON.parse(e.data); window.session = d.session; window.status = d.status; window.lastId = e.lastEventId; });
  es.addEventListener("chat", (e) => { window.got.push(JSON.parse(e.data).data); window.lastId = e.lastEventId; });
};
window.listen = async (key) => (await fetch("/notif/listen", { method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ session: window.session, notifier: "chat", key }) })).status;
window.open_();
</script>`;

describe("HTTP/2 in Chromium", function () {
  this.timeout(60_000);
  let browser: Browser | undefined;
  let server: H2Server<string | null> | undefined;
  let profile = "";

  before(async function () {
    requireChromium(this);
    profile = await mkdtemp(join(tmpdir(), "sse-notif-h2-"));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS, "--ignore-certificate-errors"],
    });
  });
  after(async () => {
    await browser?.close();
    if (profile !== "") await rm(profile, { recursive: true, force: true });
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("streams over h2: listen, notify, and a resume that replays", async () => {
    server = await startH2("tls", { heartbeat: 200 }, undefined, (req, res) => {
      if (req.url === "/page") res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
      else res.writeHead(404).end();
    });
    const chat = server.hub.notifier(defineNotifier<string, string>("chat"));
    const context = await (browser as Browser).newContext({ ignoreHTTPSErrors: true });
    try {
      const page = await context.newPage();
      const response = await page.goto(`${server.origin}/page`);
      expect(response?.status()).to.equal(200);
      await until(
        () => page.evaluate(() => (window as unknown as { session: string }).session),
        10_000,
        "the session",
      );
      const protocol = await page.evaluate(
        () =>
          (performance.getEntriesByType("resource") as PerformanceResourceTiming[]).find((e) =>
            e.name.includes("/notif/events"),
          )?.nextHopProtocol ??
          (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming)
            .nextHopProtocol,
      );
      expect(protocol).to.equal("h2");
      const w = () =>
        page.evaluate(() => {
          const g = window as unknown as { got: string[]; status: string; lastId: string };
          return { got: [...g.got], status: g.status, lastId: g.lastId };
        });
      expect(
        await page.evaluate(() =>
          (window as unknown as { listen(k: string): Promise<number> }).listen("k"),
        ),
      ).to.equal(204);
      await chat.notify("k", "one");
      await until(async () => (await w()).got.length === 1, 5_000, "the notification");
      const sent = server.hub.stats().sent;
      // Away: close the stream, notify twice, come back with the last id.
      const last = (await w()).lastId;
      await page.evaluate(() => (window as unknown as { es: EventSource }).es.close());
      await until(() => server?.hub.stats().streams === 0, 5_000, "the stream to close");
      await chat.notify("k", "two");
      await chat.notify("k", "three");
      await page.evaluate(
        (id) => (window as unknown as { open_(l: string): void }).open_(id),
        last,
      );
      await until(async () => (await w()).got.length === 3, 5_000, "the replay");
      expect((await w()).got).to.deep.equal(["one", "two", "three"]);
      expect((await w()).status).to.equal("resumed");
      expect(server.hub.stats()).to.include({ sessions: 1, streams: 1 });
      expect(server.hub.stats().sent).to.equal(sent + 2);
    } finally {
      await context.close();
    }
  });
});
