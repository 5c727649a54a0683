/**
 * What the tab-sharing tests run on: the page bundled once with Vite, a hub
 * on a plain HTTP/1.1 server on port 0 serving it, and Chromium.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import express from "express";
import { type Browser, chromium } from "playwright-core";
import { defineNotifier } from "../../../protocol/contract.js";
import { createHub, type Hub, type HubOptions, type Notifier } from "../../../server/index.js";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** Chromium flags for tests as root on a closed network. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export const chat = defineNotifier<string, string>("chat");
export const who = defineNotifier<string, string>("who");

/** Skips (loudly) without Chromium; fails under CI. */
export function requireChromium(context: Mocha.Context): void {
  if (existsSync(CHROMIUM)) return;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  console.warn(
    `\n  SKIPPING the browser tests: ${CHROMIUM} is missing (apt-get install chromium)\n`,
  );
  context.skip();
}

/**
 * Builds page.ts into a temporary directory with the Vite CLI in a child
 * process (under mocha's `--conditions=browser` Vite would resolve its own
 * modules wrongly). Returns the directory; remove it when done.
 */
export async function buildPage(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), "sse-notif-tabs-"));
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  const vite = join(root, "node_modules/vite/bin/vite.js");
  const config = "test/browser/tabs/vite.config.ts";
  await promisify(execFile)(
    process.execPath,
    [vite, "build", "--config", config, "--outDir", out],
    {
      cwd: root,
      env: { ...process.env, NODE_OPTIONS: "" },
    },
  );
  return out;
}

export const removeDir = (dir: string) => rm(dir, { recursive: true, force: true });

/**
 * Chromium; with `backForwardCache`, without the flag Playwright adds that
 * turns the back/forward cache off (headless Chromium has it otherwise).
 */
export function launch(options: { backForwardCache?: boolean } = {}): Promise<Browser> {
  const ignoreDefaultArgs = options.backForwardCache ? ["--disable-back-forward-cache"] : [];
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, ignoreDefaultArgs });
}

export interface TabsServer {
  readonly url: string;
  readonly hub: Hub<string | null>;
  readonly chat: Notifier<string, string, string, string | null>;
  /** Prepared per identity: "<value>@<user>" ("@anon" for none). */
  readonly who: Notifier<string, string, string, string | null>;
  /** POST /api/say requests seen, by tab header. */
  close(): Promise<void>;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>tabs</title>
<script type="module" src="/page.js"></script>`;

/**
 * The hub at /notif (identity: the `user` cookie), the page at /, `GET
 * /api/ping`, `POST /api/say?key&text` (notfor: req), `POST /api/login?user`.
 */
export async function startTabsServer(
  dist: string,
  options: HubOptions<string | null> = {},
): Promise<TabsServer> {
  const hub = createHub<string | null>({
    retry: 500,
    onError: () => {},
    identify: (req) => /(?:^|;\s*)user=([^;]+)/.exec(req.headers.cookie ?? "")?.[1] ?? null,
    ...options,
  });
  const notifier = hub.notifier(chat);
  const whoNotifier = hub.notifier(who, {
    prepare: (user, value: string) => `${value}@${user ?? "anon"}`,
  });
  const app = express();
  app.get("/", (_req, res) => void res.type("html").send(PAGE));
  app.get("/page.js", (_req, res) => res.sendFile(join(dist, "page.js")));
  app.get("/api/ping", (_req, res) => void res.send("pong"));
  app.post("/api/login", (req, res) => {
    const user = String(req.query.user ?? "");
    res.setHeader("set-cookie", user === "" ? "user=; Path=/; Max-Age=0" : `user=${user}; Path=/`);
    res.sendStatus(204);
  });
  app.post("/api/say", async (req, res) => {
    await notifier.notify(String(req.query.key), String(req.query.text), { notfor: req });
    res.sendStatus(204);
  });
  app.use("/notif", hub.router());
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hub,
    chat: notifier,
    who: whoNotifier,
    async close() {
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
