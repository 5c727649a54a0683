/**
 * A strict, incremental SSE parser (WHATWG "event stream interpretation":
 * lines end in CRLF, LF or CR; a blank line dispatches) and a raw HTTP SSE
 * client that keeps parsed events without keeping the text. Independent of
 * the library and of test/helpers.ts, so that it can judge what the server
 * writes, and light enough for thousands of connections.
 */
import http from "node:http";

/** One dispatched event. `id` is the last event id in force when it was dispatched. */
export interface ParsedEvent {
  readonly id: string;
  readonly event: string;
  readonly data: string;
}

export class SseParser {
  #buffer = "";
  #data: string[] = [];
  #type = "";
  #lastId = "";
  #first = true;
  comments = 0;
  retry: number | undefined;
  readonly #onEvent: (event: ParsedEvent) => void;

  constructor(onEvent: (event: ParsedEvent) => void) {
    this.#onEvent = onEvent;
  }

  /** The last event id in force (what EventSource would send as Last-Event-ID). */
  get lastId(): string {
    return this.#lastId;
  }

  push(chunk: string): void {
    let text = this.#buffer + chunk;
    if (this.#first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      this.#first = false;
    }
    let start = 0;
    for (let i = 0; i < text.length; i += 1) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      if (c === 13 && i === text.length - 1) break; // a CR at the end: wait to see if LF follows
      this.#line(text.slice(start, i));
      if (c === 13 && text.charCodeAt(i + 1) === 10) i += 1;
      start = i + 1;
    }
    this.#buffer = text.slice(start);
  }

  /** The stream ended: a trailing CR ends its line; an unfinished event is discarded (as the spec says). */
  end(): void {
    if (this.#buffer.endsWith("\r")) this.#line(this.#buffer.slice(0, -1));
    this.#buffer = "";
  }

  #line(line: string): void {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.startsWith(":")) {
      this.comments += 1;
      return;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.#data.push(value);
        return;
      case "event":
        this.#type = value;
        return;
      case "id":
        if (!value.includes("\0")) this.#lastId = value;
        return;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retry = Number(value);
        return;
    }
  }

  #dispatch(): void {
    const data = this.#data;
    const type = this.#type;
    this.#data = [];
    this.#type = "";
    if (data.length === 0) return;
    this.#onEvent({
      id: this.#lastId,
      event: type === "" ? "message" : type,
      data: data.join("\n"),
    });
  }
}

/** A raw SSE connection over node's http client. */
export interface SseConn {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Events parsed so far (not kept when `keep: false`). */
  readonly events: ParsedEvent[];
  readonly parser: SseParser;
  /** The server ended the response, or the client dropped it. */
  readonly ended: boolean;
  /** Bytes received. */
  readonly bytes: number;
  /** The text received (kept only with `keepText: true`). */
  readonly text: string;
  /** Resolves once the response is over. */
  done(): Promise<void>;
  /** Stops reading: the socket's buffers fill up and the server's writes wait. */
  pause(): void;
  /** The client goes away (socket destroyed). */
  drop(): void;
}

export interface SseConnOptions {
  readonly headers?: Record<string, string>;
  /** Keep every event in `events` (default true). */
  readonly keep?: boolean;
  readonly onEvent?: (event: ParsedEvent, conn: SseConn) => void;
  readonly agent?: http.Agent;
  /** Start paused: for clients that never read. */
  readonly paused?: boolean;
  /** Keep the raw text received in `text`. */
  readonly keepText?: boolean;
}

/** Opens `GET url` as an SSE stream; resolves once the response headers are in. */
export function openSse(url: string, options: SseConnOptions = {}): Promise<SseConn> {
  return new Promise((resolve, reject) => {
    const headers = { accept: "text/event-stream", ...options.headers };
    const req = http.get(url, { headers, agent: options.agent ?? false }, (res) => {
      const events: ParsedEvent[] = [];
      const keep = options.keep ?? true;
      const parser = new SseParser((event) => {
        if (keep) events.push(event);
        options.onEvent?.(event, conn);
      });
      let ended = false;
      let bytes = 0;
      let text = "";
      const waiters: (() => void)[] = [];
      const finish = () => {
        if (ended) return;
        ended = true;
        parser.end();
        for (const waiter of waiters.splice(0)) waiter();
      };
      const conn: SseConn = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        parser,
        get ended() {
          return ended;
        },
        get bytes() {
          return bytes;
        },
        get text() {
          return text;
        },
        done: () => (ended ? Promise.resolve() : new Promise((r) => waiters.push(r))),
        pause: () => {
          res.pause();
          res.socket?.pause();
        },
        drop: () => {
          req.destroy();
          finish();
        },
      };
      res.setEncoding("utf8");
      if (options.paused) conn.pause();
      res.on("data", (chunk: string) => {
        if (ended) return;
        bytes += Buffer.byteLength(chunk);
        if (options.keepText) text += chunk;
        parser.push(chunk);
      });
      res.on("end", finish);
      res.on("close", finish);
      res.on("error", finish);
      resolve(conn);
    });
    req.on("error", reject);
  });
}

/** An answer to {@link request}. */
export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** The error code of a JSON error answer, if any. */
  readonly code: string | undefined;
}

/**
 * One HTTP request with a raw body (string or bytes) and any headers; never
 * throws on status. An SSE answer resolves at its headers (and is dropped).
 */
export function request(
  url: string,
  init: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    agent?: http.Agent;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = init.body;
    const headers = { ...init.headers };
    if (body !== undefined && !("content-length" in headers)) {
      headers["content-length"] = String(Buffer.byteLength(body));
    }
    const req = http.request(
      url,
      { method: init.method ?? "POST", headers, agent: init.agent ?? false },
      (res) => {
        let text = "";
        if (String(res.headers["content-type"]).startsWith("text/event-stream")) {
          // a stream would never end: answer with its status and headers, and leave
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, code: undefined });
          req.destroy();
          return;
        }
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, code: codeOf(text) });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The `error.code` of a JSON error body, or undefined. */
export function codeOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown } };
    return typeof body?.error?.code === "string" ? body.error.code : undefined;
  } catch {
    return undefined;
  }
}

/** Polls `check` (first at once, then on setImmediate, then every few ms) until truthy or `ms` pass. */
export async function waitFor<T>(check: () => T, ms = 3_000, what = "condition"): Promise<T> {
  const started = performance.now(); // not Date.now(): the model tests freeze it
  for (let round = 0; ; round += 1) {
    const value = check();
    if (value) return value;
    if (performance.now() - started > ms) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    if (round < 20) await new Promise((resolve) => setImmediate(resolve));
    else await new Promise((resolve) => setTimeout(resolve, round < 100 ? 1 : 5));
  }
}
