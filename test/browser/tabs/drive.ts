/**
 * Driving the tabs of the tab-sharing tests: open a tab on the test page,
 * read what it received, find the holder, freeze a tab, notify at a rate.
 */
import type { BrowserContext, Page } from "playwright-core";
import { until } from "../../helpers.js";
import type { TabsServer } from "./setup.js";

export interface Status {
  state: string;
  session: string | undefined;
  resumed: boolean;
  recovered: boolean;
  gap: boolean;
  lost: string[];
}

/** `window.harness` of page.ts, as the tests call it through page.evaluate. */
export interface Harness {
  start(options: { share?: boolean; keys: string[] }): Promise<void>;
  listen(key: string): Promise<string>;
  unlisten(key: string): Promise<void>;
  events(): string[];
  statuses(): Status[];
  shows(): boolean[];
  info(): { leader: boolean; tabs: number; shared: boolean; state: string; session?: string };
  ping(): Promise<number>;
  listenWho(key: string): Promise<string>;
  login(user: string): Promise<void>;
  reconnect(): void;
  say(key: string, text: string): Promise<number>;
  close(): void;
}
declare const harness: Harness;

/** A new tab of `context` on `server`'s page, started (listening on `keys`). */
export async function openTab(
  context: BrowserContext,
  server: TabsServer,
  keys: string[],
  share?: boolean,
): Promise<Page> {
  const page = await context.newPage();
  const n = context.pages().length;
  if (process.env.TABS_DEBUG) page.on("console", (m) => console.log(`[tab ${n}] ${m.text()}`));
  await page.goto(server.url);
  await page.waitForFunction(() => typeof harness !== "undefined");
  await page.evaluate((o) => harness.start(o), { share, keys });
  return page;
}

export const events = (page: Page) => page.evaluate(() => harness.events());
export const info = (page: Page) => page.evaluate(() => harness.info());
export const statuses = (page: Page) => page.evaluate(() => harness.statuses());

/** The tab holding the stream, among `pages`. */
export async function leaderOf(pages: Page[]): Promise<Page> {
  const found = await until<Page | undefined>(
    async () => {
      const infos = await Promise.all(pages.map(info));
      const leaders = pages.filter((_, i) => infos[i]?.leader);
      return leaders.length === 1 ? leaders[0] : undefined;
    },
    5_000,
    "one leader",
  );
  return found as Page;
}

/**
 * Freezes a tab with CDP `Page.setWebLifecycleState`. Headless Chromium
 * accepts the command but goes on running the page's timers and tasks (no
 * `freeze` event), so the tab's JavaScript is also stopped with
 * `Debugger.pause`: to the other tabs it then looks exactly like a frozen
 * one (silent, holding its lock and its stream), and on thaw its queued
 * tasks run, as a frozen page's do.
 */
export async function freezer(context: BrowserContext, page: Page) {
  const cdp = await context.newCDPSession(page);
  await page.evaluate(() => {
    document.addEventListener("freeze", () => {
      (window as { wasFrozen?: boolean }).wasFrozen = true;
    });
  });
  let paused = false;
  return {
    async freeze() {
      await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
      const really = await Promise.race([
        page.evaluate(() => (window as { wasFrozen?: boolean }).wasFrozen === true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 500)),
      ]);
      if (really) return;
      await cdp.send("Debugger.enable");
      await cdp.send("Debugger.pause");
      paused = true;
    },
    async thaw() {
      await cdp.send("Page.setWebLifecycleState", { state: "active" });
      if (paused) await cdp.send("Debugger.resume");
    },
  };
}

/** Has one of `pages` taken the stream over (open), and does the server hold that one only? */
export async function takenOver(server: TabsServer, pages: Page[]): Promise<boolean> {
  const infos = await Promise.all(pages.map(info));
  const open = infos.some((i) => i.leader && i.state === "open");
  const stats = server.hub.stats();
  return open && stats.streams === 1 && stats.sessions === 1;
}

/**
 * Notifies `key` `count` times at `perSecond` while `during` runs (from
 * the first quarter on); the events every listening tab must get, in order.
 */
export async function flow(
  server: TabsServer,
  key: string,
  count: number,
  perSecond: number,
  during: () => Promise<void>,
): Promise<string[]> {
  let sent = 0;
  const sending = (async () => {
    for (; sent < count; sent += 1) {
      await server.chat.notify(key, String(sent));
      await new Promise((resolve) => setTimeout(resolve, 1000 / perSecond));
    }
  })();
  await until(() => sent >= count / 4, 10_000, "a quarter sent");
  await during();
  await sending;
  return Array.from({ length: count }, (_, i) => `${key}:${i}`);
}

/** Ends `session` on the server, as a `/close` from elsewhere would (the holder knows nothing). */
export async function endSession(server: TabsServer, session: string): Promise<void> {
  const closed = await fetch(`${server.url}/notif/close`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ session }),
  });
  if (closed.status !== 204) throw new Error(`/close answered ${closed.status}`);
}
