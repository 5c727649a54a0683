/**
 * Handing a shared stream over when the session is gone or the holder died
 * with requests not forwarded, and tabs back from the page cache (SPEC §6,
 * §7): real Chromium tabs of one context, a hub on plain HTTP/1.1.
 */
import { expect } from "chai";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { until } from "../helpers.js";
import {
  endSession,
  events,
  flow,
  freezer,
  type Harness,
  info,
  leaderOf,
  openTab,
  statuses,
  takenOver,
} from "./tabs/drive.js";
import {
  buildPage,
  launch,
  removeDir,
  requireChromium,
  startTabsServer,
  type TabsServer,
} from "./tabs/setup.js";

declare const harness: Harness;

describe("tabs handing the stream over (Chromium)", function () {
  this.timeout(60_000);
  let browser: Browser | undefined;
  let dist = "";
  let server: TabsServer;
  let context: BrowserContext;

  before(async function () {
    requireChromium(this);
    this.timeout(120_000);
    dist = await buildPage();
    browser = await launch({ backForwardCache: true });
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

  const tab = (keys: string[]) => openTab(context, server, keys);
  const stats = () => server.hub.stats();
  const lastOpen = async (page: Page) =>
    (await statuses(page)).filter((s) => s.state === "open").at(-1);

  /** Freezes the holder of `pages` and ends its session on the server; the others, and its thaw. */
  async function killSession(pages: Page[]) {
    const leader = await leaderOf(pages);
    const rest = pages.filter((p) => p !== leader);
    const session = (await info(leader)).session as string;
    const frozen = await freezer(context, leader);
    await frozen.freeze();
    await endSession(server, session);
    return { leader, rest, session, thaw: () => frozen.thaw() };
  }

  it("the session gone: every tab gets what it missed by position, once, in order, no gap", async () => {
    const pages = [await tab(["a"]), await tab(["a"]), await tab(["a"])];
    await server.chat.notify("a", "before");
    for (const page of pages)
      await until(async () => (await events(page)).includes("a:before"), 5_000, "a:before");
    const { leader, rest, session, thaw } = await killSession(pages);
    await server.chat.notify("a", "lost");
    for (const page of rest)
      await until(async () => (await info(page)).session !== session, 5_000, "a new session");
    await until(() => takenOver(server, rest), 3_000, "taken over");
    await server.chat.notify("a", "new");
    for (const page of rest) {
      await until(async () => (await events(page)).includes("a:new"), 5_000, "live again");
      expect(await events(page)).to.deep.equal(["a:before", "a:lost", "a:new"]);
      expect((await statuses(page)).filter((s) => s.gap)).to.deep.equal([], "no gap");
      expect(await lastOpen(page)).to.include({ recovered: true, gap: false });
    }
    await thaw();
    // The thawed tab missed "a:lost" and "a:new" on a session it never saw: replayed by position.
    await until(async () => (await events(leader)).includes("a:new"), 5_000, "the thawed tab");
    await server.chat.notify("a", "later");
    await until(async () => (await events(leader)).includes("a:later"), 5_000, "the thawed tab");
    for (const page of rest)
      await until(async () => (await events(page)).includes("a:later"), 5_000, "a:later");
    const all = ["a:before", "a:lost", "a:new", "a:later"];
    for (const page of pages) expect(await events(page)).to.deep.equal(all);
    expect((await statuses(leader)).filter((s) => s.gap)).to.deep.equal([], "no gap");
    expect(await lastOpen(leader)).to.include({ recovered: true, gap: false });
  });

  /** Three tabs on key "a" with one stream; one follower (`late`) frozen, its statuses counted. */
  async function threeTabsOneFrozen() {
    const pages = [await tab(["a"]), await tab(["a"]), await tab(["a"])];
    await until(() => stats().streams === 1, 5_000, "one stream");
    const leader = await leaderOf(pages);
    const [other, late] = pages.filter((p) => p !== leader) as [Page, Page];
    const before = (await statuses(late)).length;
    const frozenLate = await freezer(context, late);
    await frozenLate.freeze();
    return { leader, other, late, before, frozenLate };
  }

  it("a follower frozen across a takeover whose session was gone: thawed, it recovers by position", async () => {
    const { leader, other, late, before, frozenLate } = await threeTabsOneFrozen();
    const session = (await info(leader)).session as string;
    const frozenLeader = await freezer(context, leader);
    const want = await flow(server, "a", 60, 20, async () => {
      await frozenLeader.freeze();
      await endSession(server, session);
      await until(async () => (await info(other)).session !== session, 5_000, "a new session");
      await until(() => takenOver(server, [other]), 3_000, "taken over");
    });
    await until(async () => (await events(other)).length >= want.length, 5_000, "all events");
    expect(await events(other)).to.deep.equal(want);
    await frozenLate.thaw(); // it joins the new session long after it started, with old positions
    await until(async () => (await events(late)).length >= want.length, 8_000, "replayed");
    await server.chat.notify("a", "after");
    for (const page of [other, late])
      await until(async () => (await events(page)).includes("a:after"), 5_000, "a:after");
    expect(await events(late)).to.deep.equal([...want, "a:after"], "each once, in order");
    expect(await events(other)).to.deep.equal([...want, "a:after"], "no repeat in the others");
    const since = (await statuses(late)).slice(before);
    expect(since.filter((s) => s.gap)).to.deep.equal([], "no gap");
    expect(since.filter((s) => s.state === "open").at(-1)).to.include({
      recovered: true,
      gap: false,
    });
    expect(stats().streams).to.equal(1);
    expect((await info(other)).leader).to.equal(true, "the thawed tab took nothing over");
    await frozenLeader.thaw();
  });

  it("a follower frozen while its holder crashed (session resumed): thawed, it recovers by position", async () => {
    const { leader, other, late, before, frozenLate } = await threeTabsOneFrozen();
    const session = (await info(leader)).session;
    const cdp = await context.newCDPSession(leader);
    const want = await flow(server, "a", 40, 20, async () => {
      const crashed = new Promise((resolve) => leader.once("crash", resolve));
      cdp.send("Page.crash").catch(() => {}); // answered by no one: the renderer is gone
      await crashed;
      await until(() => takenOver(server, [other]), 3_000, "taken over");
    });
    expect((await info(other)).session).to.equal(session, "resumed");
    await until(async () => (await events(other)).length >= want.length, 5_000, "all events");
    await frozenLate.thaw(); // its last event is before where the new holder resumed
    await until(async () => (await events(late)).length >= want.length, 8_000, "replayed");
    await server.chat.notify("a", "after");
    for (const page of [other, late])
      await until(async () => (await events(page)).includes("a:after"), 5_000, "a:after");
    for (const page of [other, late])
      expect(await events(page)).to.deep.equal([...want, "a:after"], "each once, in order");
    const since = (await statuses(late)).slice(before);
    expect(since.filter((s) => s.gap)).to.deep.equal([], "no gap");
    expect(since.filter((s) => s.state === "open").at(-1)).to.include({ gap: false });
    expect((await info(other)).leader).to.equal(true, "the thawed tab took nothing over");
  });

  it("the session killed while 20 notifies/s flow: 3 tabs get each once, in order, no gap", async () => {
    const pages = [await tab(["a"]), await tab(["a"]), await tab(["a"]), await tab(["a"])];
    await until(() => stats().streams === 1, 5_000, "one stream");
    let rest: Page[] = [];
    const want = await flow(server, "a", 60, 20, async () => {
      const killed = await killSession(pages);
      rest = killed.rest;
      for (const page of rest)
        await until(async () => (await info(page)).session !== killed.session, 5_000, "new");
    });
    expect(rest).to.have.length(3);
    for (const page of rest) {
      await until(async () => (await events(page)).length >= want.length, 5_000, "all events");
      expect(await events(page)).to.deep.equal(want);
      expect((await statuses(page)).filter((s) => s.gap)).to.deep.equal([], "no gap");
      expect(await lastOpen(page)).to.include({ recovered: true });
    }
    expect(stats().sessions).to.be.at.most(2, "the new session (and the frozen tab's none)");
  });

  it("a key whose history is gone is lost, named only in the tabs that listen on it", async () => {
    await server.close();
    server = await startTabsServer(dist, { history: { size: 3 } });
    const keys = [["a"], ["a", "b"], ["a"], ["a", "b"]];
    const pages: Page[] = [];
    for (const k of keys) pages.push(await tab(k));
    await until(() => stats().listens === 2, 5_000, "a and b");
    const { rest, session } = await killSession(pages);
    await server.chat.notify("a", "1");
    for (let i = 1; i <= 5; i += 1) await server.chat.notify("b", String(i)); // 3 kept
    for (const page of rest)
      await until(async () => (await lastOpen(page))?.session !== session, 8_000, "recovered");
    for (const page of rest) {
      const withB = keys[pages.indexOf(page)]?.includes("b");
      const status = await until(async () => {
        const last = await lastOpen(page);
        return last?.session !== session && last?.state === "open" ? last : undefined;
      }, 5_000);
      expect(status).to.include(withB ? { gap: true, recovered: false } : { recovered: true });
      expect(status?.lost).to.deep.equal(withB ? ["b"] : []);
    }
    await server.chat.notify("b", "6");
    for (const page of rest) {
      const withB = keys[pages.indexOf(page)]?.includes("b");
      const want = withB ? ["a:1", "b:6"] : ["a:1"];
      await until(async () => (await events(page)).length >= want.length, 5_000, "a:1 (and b:6)");
      expect(await events(page)).to.deep.equal(want, "a:1 recovered; of b, only what came after");
    }
  });

  it("an unlisten its dying holder never forwarded: the next holder unlistens the key", async () => {
    const pages = [await tab([]), await tab(["a", "b"]), await tab(["a"])];
    await until(() => stats().listens === 2, 5_000, "a and b");
    const leader = await leaderOf(pages);
    const rest = pages.filter((p) => p !== leader);
    const frozen = await freezer(context, leader);
    await frozen.freeze();
    const unlistening = (pages[1] as Page).evaluate(() => harness.unlisten("b"));
    await unlistening;
    // As without sharing: resolved once the server no longer holds b for the session.
    expect(stats().listens).to.equal(1, "b unlistened by the new holder when unlisten() resolves");
    await until(() => takenOver(server, rest), 5_000, "taken over");
    await server.chat.notify("b", "x");
    await server.chat.notify("a", "y");
    for (const page of rest)
      await until(async () => (await events(page)).includes("a:y"), 5_000, "a:y");
    expect(await events(pages[1] as Page)).to.deep.equal(["a:y"]);
    await frozen.thaw();
    await until(async () => !(await info(leader)).leader, 5_000, "the thawed tab steps down");
    expect(stats().listens).to.equal(1);
  });

  it("a tab that closed while its holder was dying: the next holder unlistens its keys", async () => {
    const pages = [await tab([]), await tab(["a"]), await tab(["c"])];
    await until(() => stats().listens === 2, 5_000, "a and c");
    const leader = await leaderOf(pages);
    const frozen = await freezer(context, leader);
    await frozen.freeze();
    await (pages[2] as Page).close({ runBeforeUnload: true }); // its leave goes to the frozen holder
    await until(() => takenOver(server, [pages[1] as Page]), 5_000, "taken over");
    await until(() => stats().listens === 1, 3_000, "c unlistened by the new holder");
    await frozen.thaw();
  });

  /** Leaves `page` for another page and comes back by history, from the page cache. */
  async function awayAndBack(page: Page, away: () => Promise<void>): Promise<void> {
    await page.goto(`${server.url}/api/ping`);
    await away();
    await page.goBack({ waitUntil: "commit" }); // a page from the cache fires no load
    await page.waitForFunction(() => typeof harness !== "undefined");
    expect(await page.evaluate(() => harness.shows())).to.deep.equal(
      [false, true],
      "restored from the back/forward cache",
    );
  }

  it("a follower back from the page cache joins again: listens re-declared, receiving", async () => {
    const pages = [await tab(["a"]), await tab(["a"])];
    const leader = await leaderOf(pages);
    const follower = pages.find((p) => p !== leader) as Page;
    await follower.evaluate(() => harness.listen("b"));
    await until(() => stats().listens === 2, 5_000, "a and b");
    await awayAndBack(follower, async () => {
      await until(() => stats().listens === 1, 3_000, "its b released");
      await server.chat.notify("a", "away");
      await server.chat.notify("b", "away");
    });
    await until(() => stats().listens === 2, 3_000, "b declared again");
    await server.chat.notify("a", "back");
    await server.chat.notify("b", "back");
    await until(async () => (await events(follower)).includes("b:back"), 5_000, "receiving");
    const of = (key: string, all: string[]) => all.filter((e) => e.startsWith(`${key}:`));
    const got = await events(follower);
    expect(of("a", got)).to.deep.equal(["a:away", "a:back"]);
    // b, not listened to by the session while away, is replayed by position.
    expect(of("b", got)).to.deep.equal(["b:away", "b:back"]);
    expect((await statuses(follower)).filter((s) => s.gap)).to.deep.equal([], "no gap");
    expect(await events(leader)).to.deep.equal(["a:away", "a:back"]);
    expect(stats().sessions).to.equal(1);
  });

  it("the only tab back from the page cache: a new session, recovered by position", async () => {
    const page = await tab(["a"]);
    await server.chat.notify("a", "1");
    await until(async () => (await events(page)).includes("a:1"), 5_000, "a:1");
    const session = (await info(page)).session;
    await awayAndBack(page, async () => {
      await until(() => stats().sessions === 0, 3_000, "its session closed on page hide");
      await server.chat.notify("a", "away");
    });
    await until(async () => (await info(page)).session !== session, 5_000, "a new session");
    await until(async () => (await events(page)).includes("a:away"), 5_000, "a:away recovered");
    await server.chat.notify("a", "back");
    await until(async () => (await events(page)).includes("a:back"), 5_000, "live");
    expect(await events(page)).to.deep.equal(["a:1", "a:away", "a:back"]);
    expect(await lastOpen(page)).to.include({ recovered: true, gap: false });
  });
});
