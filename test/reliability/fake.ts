/**
 * The hub's own router driven without sockets: requests are readable streams
 * with headers, responses record what is written and parse it as SSE. Every
 * line of library code runs (router, body reading, core, streams, flusher);
 * only node's http and TCP are left out, so a model can take thousands of
 * steps in seconds. The response behaves as node's does where the library
 * looks: `writeHead`, `write`, `end`, `destroy`, `writableLength` (0: the
 * client reads at once), `'close'` emitted on a later tick, and a socket
 * that can be written to directly.
 */
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import type { Router } from "express";
import { type ParsedEvent, SseParser } from "./sse.js";

/**
 * The connection both sides share: whether the client is gone, and a
 * writable end (the library may write to `res.socket` once the headers are
 * out) that the client reads at once.
 */
export class FakeSocket extends EventEmitter {
  destroyed = false;
  readonly writableLength = 0;
  /** Where written text goes: the response's parser. */
  sink: ((text: string) => boolean) | undefined;
  setNoDelay(): void {}
  write(chunk: string | Buffer): boolean {
    return this.destroyed ? false : (this.sink?.(String(chunk)) ?? false);
  }
}

/** A response as the router and the stream see it. */
export class FakeResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  destroyed = false;
  readonly writableLength = 0;
  readonly socket: FakeSocket;
  readonly headers: Record<string, string> = {};
  body = "";
  readonly events: ParsedEvent[] = [];
  readonly parser = new SseParser((event) => this.events.push(event));
  #closed = false;

  constructor(socket: FakeSocket) {
    super();
    this.socket = socket;
    socket.sink = (text) => this.write(text);
  }

  removeHeader(name: string): void {
    delete this.headers[name.toLowerCase()];
  }

  writeHead(status: number, headers: Record<string, string> = {}): this {
    this.statusCode = status;
    for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
    this.headersSent = true;
    this.emit("head");
    return this;
  }

  setHeader(name: string, value: unknown): this {
    this.headers[name.toLowerCase()] = String(value);
    return this;
  }

  getHeader(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }

  status(code: number): this {
    this.statusCode = code;
    return this;
  }

  json(value: unknown): this {
    this.setHeader("content-type", "application/json; charset=utf-8");
    return this.end(JSON.stringify(value));
  }

  write(chunk: string | Buffer): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const text = String(chunk);
    this.body += text;
    this.parser.push(text);
    return true;
  }

  end(chunk?: string | Buffer): this {
    if (this.writableEnded || this.destroyed) return this;
    if (chunk !== undefined) this.write(chunk);
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.writableEnded = true;
    this.parser.end();
    this.emit("finish");
    this.#close();
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.parser.end();
    this.#close();
    return this;
  }

  /** The client went away: the server hears `'close'` on a later tick, as from node. */
  drop(): void {
    this.socket.destroyed = true;
    this.destroy();
  }

  get ended(): boolean {
    return this.writableEnded || this.destroyed;
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    process.nextTick(() => this.emit("close"));
  }
}

/** A request: method, url, lower-case headers, and a body stream. */
export type FakeRequest = Readable & {
  method: string;
  url: string;
  headers: Record<string, string>;
  socket: FakeSocket;
};

export function fakeRequest(
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): FakeRequest {
  const req = Readable.from(body === undefined ? [] : [Buffer.from(body)]) as FakeRequest;
  req.method = method;
  req.url = url;
  req.socket = new FakeSocket();
  const lower: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
  if (body !== undefined && !("content-length" in lower)) {
    lower["content-length"] = String(Buffer.byteLength(body));
  }
  req.headers = lower;
  return req;
}

/** Passes a request to a router; resolves with the response once headers are out (or it ended). */
export function dispatch(router: Router, req: FakeRequest): Promise<FakeResponse> {
  const res = new FakeResponse(req.socket);
  return new Promise((resolve, reject) => {
    res.once("head", () => resolve(res));
    res.once("finish", () => resolve(res));
    // biome-ignore lint/suspicious/noExplicitAny: the router takes node's request and response types
    router(req as any, res as any, (error?: unknown) => {
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else res.status(404).end("not found");
    });
  });
}

/** Resolves once a response is finished (for POSTs). */
export async function finished(res: FakeResponse): Promise<FakeResponse> {
  if (res.writableEnded || res.destroyed) return res;
  await new Promise((resolve) => res.once("finish", resolve));
  return res;
}
