/**
 * Tabs of one browser share one stream and one session (SPEC §7): real
 * Chromium tabs of one context, a hub on plain HTTP/1.1 (six connections per
 * origin at most).
 */
import { expect } from "chai";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { until } from "../helpers.js";
import {
  events,
  flow as flowOn,
  freezer as freezerOf,
  type Harness,
  info,
  leaderOf,
  openTab,
  takenOver as takenOverOn,
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

  const tab = (keys: string[], share?: boolean) => openTab(context, server, keys, share);
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

  const freezer = (page: Page) => freezerOf(context, page);
  const takenOver = (pages: Page[]) => takenOverOn(server, pages);
  const flow = (key: string, count: number, perSecond: number, during: () => Promise<void>) =>
    flowOn(server, key, count, perSecond, during);

  it("closing the leader while 20 notifies/s flow: every tab gets each once, in order", async () => {
    const pages = [await tab(["a"]), await tab(["a"]), await tab(["a"])];
    await until(() => stats().streams === 1, 5_000, "one stream");
    const leader = await leaderOf(pages);
    const rest = pages.filter((p) => p !== leader);
    const want = await flow("a", 60, 20, async () => {
      await leader.close({ runBeforeUnload: true });
      await until(() => takenOver(rest), 2_000, "another tab's stream, the only one");
    });
    for (const page of rest) {
      await until(async () => (await events(page)).length >= want.length, 5_000, "all events");
      expect(await events(page)).to.deep.equal(want);
      const statuses = await page.evaluate(() => harness.statuses());
      expect(statuses.filter((st) => st.gap)).to.deep.equal([], "nothing missed: no gap");
    }
    expect(stats().sessions).to.equal(1, "the same session, resumed");
  });

  it("a crashed leader is replaced: every tab gets each notification once, in order", async () => {
    const pages = [await tab(["a"]), await tab(["a"]), await tab(["a"])];
    const leader = await leaderOf(pages);
    const rest = pages.filter((p) => p !== leader);
    const cdp = await context.newCDPSession(leader);
    const want = await flow("a", 60, 20, async () => {
      const crashed = new Promise((resolve) => leader.once("crash", resolve));
      cdp.send("Page.crash").catch(() => {}); // answered by no one: the renderer is gone
      await crashed;
      await until(() => takenOver(rest), 2_000, "another tab's stream, the only one");
    });
    for (const page of rest) {
      await until(async () => (await events(page)).length >= want.length, 5_000, "all events");
      expect(await events(page)).to.deep.equal(want);
    }
    expect(stats().sessions).to.equal(1);
  });

  it("a frozen leader is replaced; thawed, it steps down and repeats nothing", async () => {
    const pages = [await tab(["a"]), await tab(["a"])];
    const leader = await leaderOf(pages);
    const other = pages.find((p) => p !== leader) as Page;
    const frozen = await freezer(leader);
    const want = await flow("a", 60, 20, async () => {
      await frozen.freeze();
      await until(async () => (await info(other)).leader, 3_000, "the other tab to take over");
    });
    await until(async () => (await events(other)).length >= want.length, 5_000, "all events");
    expect(await events(other)).to.deep.equal(want);
    await frozen.thaw();
    await server.chat.notify("a", "after");
    const all = [...want, "a:after"];
    for (const page of pages)
      await until(async () => (await events(page)).includes("a:after"), 5_000, "after the thaw");
    expect(await events(other)).to.deep.equal(all);
    expect(await events(leader)).to.deep.equal(all, "the thawed tab: what it missed, once");
    expect((await Promise.all(pages.map(info))).filter((i) => i.leader)).to.have.length(1);
    await until(() => stats().streams === 1, 3_000, "one stream");
  });

  it("notfor: req from a follower's client.fetch leaves out that tab only", async () => {
    const pages = [await tab(["a"]), await tab(["a"]), await tab(["a"])];
    const leader = await leaderOf(pages);
    const [follower, third] = pages.filter((p) => p !== leader) as [Page, Page];
    expect(await follower.evaluate(() => harness.say("a", "mine"))).to.equal(204);
    expect(await leader.evaluate(() => harness.say("a", "leader's"))).to.equal(204);
    await server.chat.notify("a", "end");
    for (const page of pages)
      await until(async () => (await events(page)).includes("a:end"), 5_000, "the last event");
    expect(await events(follower)).to.deep.equal(["a:leader's", "a:end"]);
    expect(await events(leader)).to.deep.equal(["a:mine", "a:end"]);
    expect(await events(third)).to.deep.equal(["a:mine", "a:leader's", "a:end"]);
  });

  it("a tab's unlisten leaves the others listening; the last one's reaches the server", async () => {
    const pages = [await tab(["a", "b"]), await tab(["a"]), await tab([])];
    await until(() => stats().listens === 2, 5_000, "a and b");
    await (pages[0] as Page).evaluate(() => harness.unlisten("a"));
    expect(stats().listens).to.equal(2, "tab 1 still wants a");
    await server.chat.notify("a", "1");
    await until(async () => (await events(pages[1] as Page)).includes("a:1"), 5_000, "a:1");
    await (pages[1] as Page).evaluate(() => harness.unlisten("a"));
    expect(stats().listens).to.equal(1, "unlistened once no tab wants it");
    expect(await (pages[2] as Page).evaluate(() => harness.listen("a"))).to.equal("ok");
    expect(stats().listens).to.equal(2, "listened again, resolved once the server confirmed");
    expect(await events(pages[0] as Page)).to.deep.equal([]);
  });

  it("a follower's refused listen rejects with the server's error", async () => {
    await server.close();
    server = await startTabsServer(dist, { maxKeysPerSession: 2 });
    const pages = [await tab(["a"]), await tab(["b"])];
    expect(await (pages[1] as Page).evaluate(() => harness.listen("c"))).to.equal(
      "RequestError:too_many_keys",
    );
    expect(stats().listens).to.equal(2);
  });

  /** A server whose sessions expire 1 s after their stream went (the old identity's /close is refused). */
  async function expiring() {
    await server.close();
    server = await startTabsServer(dist, { sessionTimeout: 1_000 });
  }

  it("after a login in one tab, reconnect() moves every tab to one new session", async () => {
    await expiring();
    const pages = [await tab([]), await tab([]), await tab([])];
    for (const page of pages)
      expect(await page.evaluate(() => harness.listenWho("w"))).to.equal("ok");
    const before = (await info(pages[0] as Page)).session;
    await server.who.notify("w", "1");
    for (const page of pages)
      await until(async () => (await events(page)).includes("who/w:1@anon"), 5_000, "anon");
    await (pages[1] as Page).evaluate(async () => {
      await harness.login("ann");
      harness.reconnect();
    });
    await until(
      async () =>
        (await Promise.all(pages.map(info))).every(
          (i) => i.session !== before && i.state === "open",
        ),
      8_000,
      "every tab on a new session",
    );
    expect(stats().streams).to.equal(1);
    await until(() => stats().sessions === 1, 3_000, "the old one gone");
    await until(() => stats().listens === 1, 3_000, "listening again");
    await server.who.notify("w", "2");
    for (const page of pages)
      await until(async () => (await events(page)).includes("who/w:2@ann"), 5_000, "as ann");
    const asAnn = (await info(pages[0] as Page)).session;
    await (pages[2] as Page).evaluate(async () => {
      await harness.login(""); // log out, in another tab
      harness.reconnect();
    });
    await until(
      async () => (await Promise.all(pages.map(info))).every((i) => i.session !== asAnn),
      8_000,
      "every tab on the logged-out session",
    );
    await until(() => stats().listens >= 1 && stats().streams === 1, 3_000, "listening");
    await server.who.notify("w", "3");
    for (const page of pages)
      await until(async () => (await events(page)).includes("who/w:3@anon"), 5_000, "anon again");
  });

  it("a listen refused for the session's old identity renews the session for every tab", async () => {
    await expiring();
    const pages = [await tab([]), await tab([])];
    expect(await (pages[0] as Page).evaluate(() => harness.listenWho("w"))).to.equal("ok");
    const before = (await info(pages[0] as Page)).session;
    await (pages[1] as Page).evaluate(() => harness.login("bob"));
    expect(await (pages[1] as Page).evaluate(() => harness.listenWho("v"))).to.equal("ok");
    for (const page of pages)
      await until(async () => (await info(page)).session !== before, 8_000, "a new session");
    await until(() => stats().sessions === 1 && stats().listens === 2, 3_000, "both keys, once");
    await server.who.notify("w", "3");
    await server.who.notify("v", "4");
    await until(async () => (await events(pages[0] as Page)).includes("who/w:3@bob"), 5_000, "w");
    await until(async () => (await events(pages[1] as Page)).includes("who/v:4@bob"), 5_000, "v");
    expect(await events(pages[0] as Page)).to.not.include("who/v:4@bob");
  });

  it("share: false gives each tab its own stream and session", async () => {
    for (let i = 0; i < 3; i += 1) await tab(["a"], false);
    await until(() => stats().streams === 3 && stats().sessions === 3, 5_000, "3 streams");
  });

  it("the last tab closing ends the session; a follower closing releases its listens", async () => {
    const pages = [await tab(["a"]), await tab(["b"])];
    await until(() => stats().listens === 2, 5_000, "a and b");
    const leader = await leaderOf(pages);
    const follower = pages.find((p) => p !== leader) as Page;
    await follower.close({ runBeforeUnload: true });
    await until(() => stats().listens === 1, 3_000, "the follower's listen released");
    await leader.close({ runBeforeUnload: true });
    await until(() => stats().sessions === 0, 3_000, "the session closed");
  });

  it("reloading the leader, then every tab at once, keeps one stream and one session", async () => {
    const pages = [await tab(["a"]), await tab(["a"]), await tab(["b"])];
    const leader = await leaderOf(pages);
    const start = (page: Page, keys: string[]) =>
      page.evaluate((k) => harness.start({ keys: k }), keys);
    await leader.reload();
    await start(leader, pages.indexOf(leader) === 2 ? ["b"] : ["a"]);
    await until(() => stats().streams === 1 && stats().sessions === 1, 3_000, "1 stream");
    await Promise.all(pages.map((page) => page.reload()));
    await Promise.all(pages.map((page, i) => start(page, i === 2 ? ["b"] : ["a"])));
    await until(() => stats().streams === 1 && stats().sessions === 1, 5_000, "1 session");
    await server.chat.notify("a", "x");
    await server.chat.notify("b", "y");
    for (const [i, page] of pages.entries())
      await until(async () => (await events(page)).length === 1, 5_000, `tab ${i}`);
    expect(await Promise.all(pages.map(events))).to.deep.equal([["a:x"], ["a:x"], ["b:y"]]);
  });
});
