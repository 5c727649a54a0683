/**
 * Tabs of one browser share one stream and one session (SPEC §7): real
 * Chromium tabs of one context, a hub on plain HTTP/1.1 (six connections per
 * origin at most).
 */
import { expect } from "chai";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { until } from "../helpers.js";
import {
  buildPage,
  launch,
  removeDir,
  requireChromium,
  startTabsServer,
  type TabsServer,
} from "./tabs/setup.js";

interface Harness {
  start(options: { share?: boolean; keys: string[] }): Promise<void>;
  listen(key: string): Promise<string>;
  unlisten(key: string): Promise<void>;
  events(): string[];
  statuses(): { state: string; resumed: boolean; gap: boolean }[];
  info(): { leader: boolean; tabs: number; shared: boolean; state: string; session?: string };
  ping(): Promise<number>;
  say(key: string, text: string): Promise<number>;
  close(): void;
}
declare const harness: Harness;

describe("tabs sharing one stream (Chromium)", function () {
  this.timeout(60_000);
  let browser: Browser | undefined;
  let dist = "";
  let server: TabsServer;
  let context: BrowserContext;

  before(async function () {
    requireChromium(this);
    this.timeout(120_000);
    dist = await buildPage();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    if (dist !== "") await removeDir(dist);
  });
  beforeEach(async () => {
    server = await startTabsServer(dist);
    context = await (browser as Browser).newContext();
  });
  afterEach(async () => {
    await context?.close();
    await server?.close();
  });

  /** A new tab, started (listening on `keys`). */
  async function tab(keys: string[], share?: boolean): Promise<Page> {
    const page = await context.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => typeof harness !== "undefined");
    await page.evaluate((o) => harness.start(o), { share, keys });
    return page;
  }
  const events = (page: Page) => page.evaluate(() => harness.events());
  const info = (page: Page) => page.evaluate(() => harness.info());
  const stats = () => server.hub.stats();

  it("8 tabs: one stream, one session, each tab gets exactly its keys", async () => {
    const keysOf = (i: number) => (i % 2 === 0 ? ["even", `k${i}`] : ["odd", `k${i}`]);
    const pages: Page[] = [];
    for (let i = 0; i < 8; i += 1) pages.push(await tab(keysOf(i)));
    await until(
      () => stats().streams === 1 && stats().sessions === 1,
      5_000,
      "1 stream, 1 session",
    );
    expect(stats().listens).to.equal(10, "the union: even, odd, k0..k7");
    for (const key of ["even", "odd", ...pages.map((_, i) => `k${i}`), "nobody"])
      await server.chat.notify(key, `${key}!`);
    for (const [i, page] of pages.entries()) {
      const want = keysOf(i).map((k) => `${k}:${k}!`);
      await until(
        async () => (await events(page)).length >= want.length,
        5_000,
        `tab ${i}'s events`,
      );
      expect(await events(page)).to.deep.equal(want);
    }
    expect(await Promise.all(pages.map((p) => p.evaluate(() => harness.ping())))).to.deep.equal(
      Array(8).fill(200),
    );
    const infos = await Promise.all(pages.map(info));
    expect(infos.filter((i) => i.leader)).to.have.length(1);
    expect(new Set(infos.map((i) => i.session)).size).to.equal(1);
    await until(async () => (await info(pages[0] as Page)).tabs === 8, 3_000, "8 tabs counted");
  });
});
