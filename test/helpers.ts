/** Test helpers: real Express servers on port 0, raw SSE readers, real clients, bounded waits. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { EventSource } from "eventsource";
import express from "express";
import { createNotifClient, type NotifClient, type NotifClientOptions } from "../client/index.js";
import { createHub, type Hub, type HubOptions } from "../server/index.js";

/** Waits until `check` returns a truthy value, polling; fails after `ms`. */
export async function until<T>(
  check: () => T | Promise<T>,
  ms = 3_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface TestServer<Identity> {
  readonly hub: Hub<Identity>;
  readonly app: express.Express;
  readonly server: http.Server;
  /** Base URL of the router, e.g. http://127.0.0.1:1234/notif */
  readonly url: string;
  /** Base URL of the app. */
  readonly origin: string;
  close(): Promise<void>;
}

const open: TestServer<unknown>[] = [];

/**
 * Starts an Express app on port 0 with a hub mounted at /notif. Identity is
 * the `x-user` header (or null), unless `identify` is given.
 */
export async function startServer<Identity = string | null>(
  options: HubOptions<Identity> = {},
  setup?: (app: express.Express, hub: Hub<Identity>) => void,
): Promise<TestServer<Identity>> {
  const hub = createHub<Identity>({
    identify: (req) => ((req.headers["x-user"] as string | undefined) ?? null) as Identity,
    onError: () => {},
    closeWindow: 0, // tests of the close window set their own
    ...options,
  });
  const app = express();
  setup?.(app, hub);
  app.use("/notif", hub.router());
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const result: TestServer<Identity> = {
    hub,
    app,
    server,
    url: `${origin}/notif`,
    origin,
    async close() {
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  open.push(result as TestServer<unknown>);
  return result;
}

/** Closes every server and client the helpers opened (call in afterEach). */
export async function closeAll(): Promise<void> {
  for (const client of clients.splice(0)) client.close();
  for (const raw of raws.splice(0)) raw.close();
  await Promise.all(open.splice(0).map((server) => server.close()));
}

/** One parsed SSE event. */
export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** A raw SSE connection: the exact text received, and events as parsed. */
export interface RawStream {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  text: string;
  readonly events: SseEvent[];
  readonly comments: number;
  /** Session id from the first event. */
  session(): string;
  status_(): string;
  /** Resolves with the `n`th event (0-based), waiting for it. */
  event(n: number, ms?: number): Promise<SseEvent>;
  /** Resolves once the server ended the response. */
  ended(): Promise<void>;
  /** Stops reading (the socket buffers fill up). */
  pause(): void;
  close(): void;
}

const raws: RawStream[] = [];

/**
 * Opens a session's stream at `${url}/events` and waits for its session
 * event; `who` is the `x-user` (the test servers' identity) or the headers.
 */
export async function openSession(
  url: string,
  who?: string | Record<string, string>,
): Promise<RawStream> {
  const headers = typeof who === "string" ? { "x-user": who } : (who ?? {});
  const raw = await openRaw(`${url}/events`, headers);
  await raw.event(0);
  return raw;
}

/** Opens `GET url` and parses the SSE stream incrementally. */
export function openRaw(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: "text/event-stream", ...headers } }, (res) => {
      res.setEncoding("utf8");
      let buffer = "";
      let comments = 0;
      let done = false;
      const events: SseEvent[] = [];
      const endWaiters: (() => void)[] = [];
      const stream: RawStream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: "",
        events,
        get comments() {
          return comments;
        },
        session: () => (JSON.parse(events[0]?.data ?? "{}") as { session: string }).session,
        status_: () => (JSON.parse(events[0]?.data ?? "{}") as { status: string }).status,
        event: (n, ms = 3_000) => until(() => events[n], ms, `event #${n}`) as Promise<SseEvent>,
        ended: () => (done ? Promise.resolve() : new Promise((r) => endWaiters.push(r))),
        pause: () => {
          res.pause();
          res.socket.pause();
        },
        close: () => req.destroy(),
      };
      res.on("data", (chunk: string) => {
        stream.text += chunk;
        buffer += chunk;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = parseBlock(block);
          if (event) events.push(event);
          else if (block.startsWith(":")) comments += 1;
          end = buffer.indexOf("\n\n");
        }
      });
      const finish = () => {
        done = true;
        for (const waiter of endWaiters.splice(0)) waiter();
      };
      res.on("end", finish);
      res.on("close", finish);
      res.on("error", finish);
      raws.push(stream);
      resolve(stream);
    });
    req.on("error", reject);
  });
}

/** Parses one SSE block (the text between blank lines); `undefined` for a comment. */
export function parseBlock(block: string): SseEvent | undefined {
  const event: SseEvent = { data: "" };
  let hasData = false;
  for (const line of block.split("\n")) {
    const colon = line.indexOf(":");
    if (colon === 0) continue;
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") event.id = value;
    else if (field === "event") event.event = value;
    else if (field === "data") {
      event.data = hasData ? `${event.data}\n${value}` : value;
      hasData = true;
    }
  }
  return hasData ? event : undefined;
}

/** POSTs JSON (or any body with a content type); resolves with status and parsed body. */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
}

/** POST /listen for one key. */
export function listen(url: string, session: string, notifier: string, key: unknown, headers = {}) {
  return post(`${url}/listen`, { session, notifier, key }, headers);
}

const clients: NotifClient[] = [];

/**
 * A real client over the `eventsource` package. It reconnects from 20 ms
 * (as the test servers' `retry: 20`) unless `options.reconnect` says otherwise.
 */
export function client(url: string, options: Partial<NotifClientOptions> = {}): NotifClient {
  const made = createNotifClient({ url, EventSource, reconnect: { retry: 20 }, ...options });
  clients.push(made);
  return made;
}

/** Data of notification events, parsed. */
export function notifications(stream: RawStream, name?: string): { key: unknown; data: unknown }[] {
  const last = new Map<string, { epoch: string; offset: number }>();
  return stream.events
    .filter((e) => e.event !== "session" && (name === undefined || e.event === name))
    .map((e) => {
      const { pos, ...rest } = JSON.parse(e.data) as { key: unknown; data: unknown; pos?: unknown };
      if (pos !== undefined) checkPosition(last, `${e.event}:${JSON.stringify(rest.key)}`, pos);
      return rest;
    });
}

/**
 * A notification's `pos` (history on, SPEC §6): `<epoch>-<offset>`, and per
 * key of one stream growing within an epoch (a session may skip some: notfor).
 */
function checkPosition(
  last: Map<string, { epoch: string; offset: number }>,
  key: string,
  pos: unknown,
): void {
  const match = typeof pos === "string" ? /^([0-9a-z]{1,40})-(0|[1-9][0-9]*)$/.exec(pos) : null;
  if (!match) throw new Error(`bad pos ${JSON.stringify(pos)} on ${key}`);
  const position = { epoch: match[1] as string, offset: Number(match[2]) };
  const before = last.get(key);
  if (before && before.epoch === position.epoch && before.offset >= position.offset) {
    throw new Error(`pos ${pos} on ${key} after ${before.epoch}-${before.offset}`);
  }
  last.set(key, position);
}

/**
 * Makes `GET /notif/events` answer 503 while held, so that a test can
 * notify while a client is surely disconnected (its reconnect delay is
 * random, down to 0). Install it in `startServer`'s setup.
 */
export function streamGate(app: express.Express): { hold(): void; release(): void } {
  let held = false;
  app.use((req, res, next) => {
    if (held && req.method === "GET" && req.path === "/notif/events") res.sendStatus(503);
    else next();
  });
  return {
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
    },
  };
}
