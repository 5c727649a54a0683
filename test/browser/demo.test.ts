/**
 * The demo in a real browser (Chromium through playwright-core): live rooms,
 * `prepare` per identity, `notfor`, resume after cut streams, cleanup on close.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect } from "chai";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { type Demo, startDemo } from "../../demo/server.js";
import type { HubStats } from "../../server/index.js";
import { until } from "../helpers.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * Builds the demo's page with the Vite CLI in a child process: under mocha's
 * `--conditions=browser`, Vite itself would resolve its own modules wrongly.
 */
async function buildPage(outDir: string): Promise<void> {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const vite = join(root, "node_modules/vite/bin/vite.js");
  const args = ["build", "--config", "demo/vite.config.ts", "--outDir", outDir, "--emptyOutDir"];
  await promisify(execFile)(process.execPath, [vite, ...args, "--logLevel", "warn"], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: "" },
  });
}

describe("demo in a browser", function () {
  this.timeout(60_000);
  let browser: Browser | undefined;
  let dist = "";
  let demo: Demo;
  const contexts: BrowserContext[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
      console.warn(
        `\n  SKIPPING the browser tests: ${CHROMIUM} is missing (apt-get install chromium)\n`,
      );
      this.skip();
    }
    this.timeout(180_000);
    dist = await mkdtemp(join(tmpdir(), "sse-notif-demo-"));
    await buildPage(dist);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });

  after(async () => {
    await browser?.close();
    if (dist !== "") await rm(dist, { recursive: true, force: true });
  });

  beforeEach(async () => {
    demo = await startDemo({ port: 0, dist, testRoutes: true });
  });

  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()));
    await demo.close();
  });

  /** A page in a fresh browser context (its own cookies), logged in as `name`, connected. */
  async function openAs(name: string): Promise<Page> {
    const context = await (browser as Browser).newContext({
      viewport: { width: 820, height: 560 },
    });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(demo.url);
    await page.fill("input[name=name]", name);
    await page.click("button[type=submit]");
    await until(async () => (await stateOf(page)) === "open", 10_000, `${name}'s stream`);
    return page;
  }

  const stateOf = (page: Page) => page.textContent("[data-testid=state]");
  const statusOf = (page: Page) => page.textContent("[data-testid=status]");

  /** Posts from the page's form; resolves once the page shows it (from the POST's answer). */
  async function send(page: Page, room: string, text: string): Promise<void> {
    await page.fill(`[data-room=${room}] form input`, text);
    await page.click(`[data-room=${room}] form button`);
    await waitFor(page, room, `you: ${text}`);
  }

  /** The messages shown in a room, as "author: text" ("you" for one's own). */
  const messagesOf = (page: Page, room: string) =>
    page.$$eval(`[data-room=${room}] .msg`, (items) =>
      items.map(
        (li) =>
          `${li.querySelector(".from")?.textContent}: ${li.querySelector(".text")?.textContent}`,
      ),
    );

  async function waitFor(page: Page, room: string, line: string, ms = 10_000): Promise<void> {
    await until(
      async () => (await messagesOf(page, room)).includes(line),
      ms,
      `"${line}" in #${room}`,
    );
  }

  async function stats(): Promise<HubStats> {
    return (await (await fetch(`${demo.url}/notif/stats`)).json()) as HubStats;
  }

  it("shows each other's messages live, never echoes the sender, marks one's own as you", async () => {
    const ann = await openAs("ann");
    const bob = await openAs("bob");
    await until(async () => (await stats()).listens === 4, 5_000, "4 listens (2 rooms × 2 pages)");
    const sentBefore = (await stats()).sent;

    await send(ann, "general", "hi bob");
    await waitFor(bob, "general", "ann: hi bob");
    await send(bob, "general", "hi ann");
    await waitFor(ann, "general", "bob: hi ann");
    await send(ann, "general", "bye");
    await waitFor(bob, "general", "ann: bye");
    // Per key, notifications arrive in order: an echo would have come before the next message.
    expect(await messagesOf(ann, "general")).to.deep.equal([
      "you: hi bob",
      "bob: hi ann",
      "you: bye",
    ]);
    expect(await messagesOf(bob, "general")).to.deep.equal([
      "ann: hi bob",
      "you: hi ann",
      "ann: bye",
    ]);
    // One event per message and session: the sender's session gets it too, marked for the
    // sending tab only (its other tabs show it, SPEC §7), and the sending tab drops it.
    expect((await stats()).sent - sentBefore).to.equal(6, "one event per message and session");

    const annAgain = await ann.context().newPage(); // same user, another tab
    await annAgain.goto(demo.url);
    await waitFor(annAgain, "general", "you: bye");
    await until(async () => (await stateOf(annAgain)) === "open", 10_000, "the second tab");
    const tabsOf = (page: Page) => page.textContent("[data-testid=tabs]");
    await until(async () => (await tabsOf(annAgain))?.startsWith("2 tabs share"), 5_000, "2 tabs");
    expect(await tabsOf(ann)).to.equal("2 tabs share this connection (held here)");
    expect(await stats()).to.include({ sessions: 2, streams: 2, listens: 4 }, "ann's tabs share");
    await send(bob, "random", "psst");
    await waitFor(annAgain, "random", "bob: psst");
    await send(ann, "random", "seen in my other tab");
    await waitFor(annAgain, "random", "you: seen in my other tab"); // prepare marks it as ours
    await annAgain.close();

    await screenshotSideBySide(ann, bob);
  });

  it("hides a muted user's messages from the muter only", async () => {
    const ann = await openAs("ann");
    const bob = await openAs("bob");
    const carol = await openAs("carol");
    await send(bob, "general", "before mute");
    await waitFor(ann, "general", "bob: before mute");

    await ann.click("[data-room=general] .msg .mute");
    await until(async () => (await messagesOf(ann, "general")).length === 0, 5_000, "the refetch");
    expect(await ann.textContent("nav .muted")).to.contain("bob");

    await send(bob, "general", "after mute");
    await send(carol, "general", "carol here");
    await waitFor(carol, "general", "bob: after mute");
    await waitFor(ann, "general", "carol: carol here"); // after bob's, on the same key
    expect(await messagesOf(ann, "general")).to.deep.equal(["carol: carol here"]);
    expect(await messagesOf(carol, "general")).to.deep.equal([
      "bob: before mute",
      "bob: after mute",
      "you: carol here",
    ]);

    await ann.click("nav .muted .chip"); // unmute: the history shows bob again
    await waitFor(ann, "general", "bob: after mute");
  });

  it("shows the reconnect when the streams are cut, and loses no message", async () => {
    const ann = await openAs("ann");
    await until(async () => (await stats()).listens === 2, 5_000, "ann's listens");
    expect(await statusOf(ann)).to.equal("live");

    // Streams refused for 1.5 s: the client's first reconnect may come at once (full jitter).
    const cut = await fetch(`${demo.url}/test/drop-streams?hold=1500`, { method: "POST" });
    expect(await cut.json()).to.deep.equal({ dropped: 1 });
    await until(async () => (await stateOf(ann)) === "connecting", 5_000, "the connecting badge");
    expect(await statusOf(ann)).to.equal("connection lost, reconnecting…");
    for (const text of ["one", "two", "three"]) await postAs("bob", "general", text);
    expect((await stats()).streams).to.equal(0, "posted while ann was disconnected");

    await until(async () => (await stateOf(ann)) === "open", 10_000, "the reconnect");
    await until(async () => (await statusOf(ann)) === "resumed, nothing missed", 5_000, "resume");
    await waitFor(ann, "general", "bob: three");
    expect(await messagesOf(ann, "general")).to.deep.equal(["bob: one", "bob: two", "bob: three"]);
  });

  it("releases listens when a room is left and when a page closes", async () => {
    const ann = await openAs("ann");
    const bob = await openAs("bob");
    await until(async () => (await stats()).listens === 4, 5_000, "4 listens");

    await ann.uncheck("nav label:has-text('#random') input");
    await until(async () => (await stats()).listens === 3, 5_000, "ann's random unlistened");
    await ann.check("nav label:has-text('#solid') input");
    await until(async () => (await stats()).listens === 4, 5_000, "ann's solid listened");

    await bob.close({ runBeforeUnload: true }); // pagehide → sendBeacon(/notif/close)
    await until(
      async () => {
        const s = await stats();
        return s.sessions === 1 && s.listens === 2;
      },
      5_000,
      "bob's session to end",
    );
  });

  async function postAs(user: string, room: string, text: string): Promise<void> {
    const res = await fetch(`${demo.url}/api/rooms/${room}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: `user=${user}` },
      body: JSON.stringify({ text }),
    });
    expect(res.status).to.equal(201);
  }

  /** test-results/demo.png: both pages next to each other. */
  async function screenshotSideBySide(left: Page, right: Page): Promise<void> {
    const shots = await Promise.all([left.screenshot(), right.screenshot()]);
    const context = await (browser as Browser).newContext({
      viewport: { width: 1680, height: 580 },
    });
    contexts.push(context);
    const page = await context.newPage();
    const images = shots.map(
      (png) => `<img src="data:image/png;base64,${png.toString("base64")}">`,
    );
    await page.setContent(
      `<body style="margin:0;display:flex;gap:20px;padding:10px;background:#888">${images.join("")}</body>`,
    );
    await mkdir("test-results", { recursive: true });
    await writeFile("test-results/demo.png", await page.screenshot());
  }
});
