// Handover of a shared stream between real Chromium tabs (SPEC §7):
//
//   node --import tsx bench/tabs.ts [--runs 5] [--tabs 4] [--rate 50]
//
// Per run: `--tabs` tabs of one browser context share one stream (HTTP/1.1),
// the server notifies one key at `--rate` per second, and the tab holding the
// stream is closed (pagehide), crashed (CDP Page.crash) or frozen (CDP
// Page.setWebLifecycleState + Debugger.pause, as in the tests). Reported per
// way: handover (from the act until another tab holds the stream), stall (the
// longest wait between two events in a remaining tab), and events lost and
// repeated, over all remaining tabs (both must be 0).
import type { BrowserContext, Page } from "playwright-core";
import {
  buildPage,
  launch,
  removeDir,
  startTabsServer,
  type TabsServer,
} from "../test/browser/tabs/setup.js";

type Way = "close" | "crash" | "freeze";
const WAYS: Way[] = ["close", "crash", "freeze"];

interface Harness {
  start(options: { keys: string[] }): Promise<void>;
  events(): string[];
  times(): number[];
  ledAt(): number;
  info(): { leader: boolean };
}
declare const harness: Harness;

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

interface RunResult {
  handover: number;
  stall: number;
  lost: number;
  repeated: number;
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await wait(10);
  }
  return false;
}

async function act(way: Way, context: BrowserContext, leader: Page): Promise<() => Promise<void>> {
  if (way === "close") {
    await leader.close({ runBeforeUnload: true });
    return async () => {};
  }
  const cdp = await context.newCDPSession(leader);
  if (way === "crash") {
    cdp.send("Page.crash").catch(() => {});
    return async () => {};
  }
  await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
  await cdp.send("Debugger.enable");
  await cdp.send("Debugger.pause");
  return async () => {
    await cdp.send("Debugger.resume");
    await cdp.send("Page.setWebLifecycleState", { state: "active" });
  };
}

async function runOnce(server: TabsServer, context: BrowserContext, way: Way): Promise<RunResult> {
  const tabs = option("tabs", 4);
  const rate = option("rate", 50);
  const pages: Page[] = [];
  for (let i = 0; i < tabs; i += 1) {
    const page = await context.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => typeof harness !== "undefined");
    await page.evaluate(() => harness.start({ keys: ["a"] }));
    pages.push(page);
  }
  const infos = await Promise.all(pages.map((p) => p.evaluate(() => harness.info())));
  const leader = pages[infos.findIndex((i) => i.leader)] as Page;
  const rest = pages.filter((p) => p !== leader);
  const count = rate * 3;
  let sent = 0;
  const sending = (async () => {
    for (; sent < count; sent += 1) {
      await server.chat.notify("a", String(sent));
      await wait(1000 / rate);
    }
  })();
  await until(async () => sent >= count / 3, 10_000);
  const at = Date.now();
  const thaw = await act(way, context, leader);
  await sending;
  await until(
    async () =>
      (await Promise.all(rest.map((p) => p.evaluate(() => harness.events().length)))).every(
        (n) => n >= count,
      ),
    5_000,
  );
  await thaw();
  const led = await Promise.all(rest.map((p) => p.evaluate(() => harness.ledAt())));
  const result: RunResult = {
    handover: Math.max(...led) - at,
    stall: 0,
    lost: 0,
    repeated: 0,
  };
  for (const page of rest) {
    const events = await page.evaluate(() => harness.events());
    const times = await page.evaluate(() => harness.times());
    const distinct = new Set(events);
    result.repeated += events.length - distinct.size;
    result.lost += count - distinct.size;
    for (let i = 1; i < times.length; i += 1)
      result.stall = Math.max(result.stall, (times[i] as number) - (times[i - 1] as number));
  }
  await Promise.all(pages.map((p) => p.close().catch(() => {})));
  return result;
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `${sorted[Math.floor(sorted.length / 2)]} / ${sorted.at(-1)}`;
};

const runs = option("runs", 5);
const dist = await buildPage();
const browser = await launch();
console.log(`${runs} runs per way, ${option("tabs", 4)} tabs, ${option("rate", 50)} notifies/s`);
console.log("way     handover ms (median / max)  stall ms (median / max)  lost  repeated");
try {
  for (const way of WAYS) {
    const results: RunResult[] = [];
    for (let run = 0; run < runs; run += 1) {
      const server = await startTabsServer(dist);
      const context = await browser.newContext();
      try {
        results.push(await runOnce(server, context, way));
      } finally {
        await context.close();
        await server.close();
      }
    }
    const sum = (key: "lost" | "repeated") => results.reduce((n, r) => n + r[key], 0);
    console.log(
      `${way.padEnd(8)}${stats(results.map((r) => r.handover)).padEnd(28)}${stats(
        results.map((r) => r.stall),
      ).padEnd(25)}${String(sum("lost")).padEnd(6)}${sum("repeated")}`,
    );
  }
} finally {
  await browser.close();
  await removeDir(dist);
}
