/**
 * HTTP/2 test helpers: a self-signed certificate made by `openssl`, hubs
 * served by `hub.handler()` on real `node:http2` servers (TLS with and
 * without `allowHTTP1`, and h2c) on port 0, and SSE streams and POSTs over
 * Node's own `http2.connect`.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createHub, type Hub, type HubOptions } from "../server/index.js";
import type { AnyRequest, AnyResponse } from "../server/transport.js";
import { parseBlock, type SseEvent, until } from "./helpers.js";

export type H2Mode = "tls" | "tls+http1" | "h2c";
export const H2_MODES: readonly H2Mode[] = ["tls", "tls+http1", "h2c"];

let certificate: Promise<{ key: Buffer; cert: Buffer }> | undefined;

/** A self-signed certificate for 127.0.0.1 and localhost, made once per process. */
export function selfSigned(): Promise<{ key: Buffer; cert: Buffer }> {
  certificate ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "sse-notif-cert-"));
    try {
      const key = join(dir, "key.pem");
      const cert = join(dir, "cert.pem");
      await promisify(execFile)("openssl", [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        ...["-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
        ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
      ]);
      return { key: await readFile(key), cert: await readFile(cert) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return certificate;
}

export interface H2Server<Identity> {
  readonly hub: Hub<Identity>;
  readonly server: http2.Http2Server | http2.Http2SecureServer;
  /** `https://127.0.0.1:port` or `http://127.0.0.1:port` */
  readonly origin: string;
  /** A new client connection (HTTP/2 always). */
  connect(): http2.ClientHttp2Session;
  close(): Promise<void>;
}

/**
 * Serves a hub at /notif with `hub.handler()` on a `node:http2` server.
 * Identity is the `x-user` header. `before` sees every request first (to
 * inject a fault into one response).
 */
export async function startH2<Identity = string | null>(
  mode: H2Mode,
  options: HubOptions<Identity> = {},
  before?: (req: AnyRequest, res: AnyResponse) => void,
  app?: (req: AnyRequest, res: AnyResponse) => void,
): Promise<H2Server<Identity>> {
  const hub = createHub<Identity>({
    identify: (req) => ((req.headers["x-user"] as string | undefined) ?? null) as Identity,
    onError: () => {},
    ...options,
  });
  const serve = hub.handler("/notif");
  const onRequest = (req: AnyRequest, res: AnyResponse) => {
    before?.(req, res);
    if (serve(req, res)) return;
    if (app) app(req, res);
    else res.writeHead(404).end("app");
  };
  const server =
    mode === "h2c"
      ? http2.createServer(onRequest)
      : http2.createSecureServer(
          { ...(await selfSigned()), allowHTTP1: mode === "tls+http1" },
          onRequest,
        );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `${mode === "h2c" ? "http" : "https"}://127.0.0.1:${port}`;
  const clients: http2.ClientHttp2Session[] = [];
  return {
    hub,
    server,
    origin,
    connect() {
      const client = http2.connect(origin, { rejectUnauthorized: false });
      client.on("error", () => {}); // a test that cuts connections reads the outcome elsewhere
      clients.push(client);
      return client;
    },
    async close() {
      await hub.close();
      for (const client of clients) client.destroy();
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An SSE stream read over HTTP/2. */
export interface H2Stream {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly events: SseEvent[];
  readonly comments: number;
  /** Bytes received so far. */
  readonly received: number;
  session(): string;
  sessionStatus(): string;
  event(n: number, ms?: number): Promise<SseEvent>;
  /** Resolves once the server ended or reset the stream. */
  ended(ms?: number): Promise<void>;
  pause(): void;
  resume(): void;
  close(): void;
}

/** Opens `GET /notif/events` on an HTTP/2 connection. */
export function openH2(
  client: http2.ClientHttp2Session,
  headers: Record<string, string> = {},
  path = "/notif/events",
): Promise<H2Stream> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ":path": path, accept: "text/event-stream", ...headers });
    req.setEncoding("utf8");
    const events: SseEvent[] = [];
    let buffer = "";
    let comments = 0;
    let received = 0;
    let done = false;
    req.on("data", (chunk: string) => {
      received += Buffer.byteLength(chunk);
      buffer += chunk;
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseBlock(block);
        if (event) events.push(event);
        else if (block.startsWith(":")) comments += 1;
      }
    });
    req.on("close", () => {
      done = true;
    });
    req.on("error", () => {
      done = true;
    });
    req.on("response", (responseHeaders) => {
      const first = () => JSON.parse(events[0]?.data ?? "{}") as Record<string, string>;
      resolve({
        status: Number(responseHeaders[":status"]),
        headers: responseHeaders,
        events,
        get comments() {
          return comments;
        },
        get received() {
          return received;
        },
        session: () => first().session ?? "",
        sessionStatus: () => first().status ?? "",
        event: (n, ms = 3_000) => until(() => events[n], ms, `event #${n}`) as Promise<SseEvent>,
        ended: (ms = 3_000) => until(() => done, ms, "the stream to end").then(() => {}),
        pause: () => req.pause(),
        resume: () => req.resume(),
        close: () => req.close(),
      });
    });
    req.on("error", reject);
  });
}

/** POSTs JSON over an HTTP/2 connection; resolves with status and parsed body. */
export function postH2(
  client: http2.ClientHttp2Session,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = client.request({
      ":method": "POST",
      ":path": `/notif${path}`,
      "content-type": "application/json",
      ...headers,
    });
    let status = 0;
    let text = "";
    req.setEncoding("utf8");
    req.on("response", (h) => {
      status = Number(h[":status"]);
    });
    req.on("data", (chunk: string) => {
      text += chunk;
    });
    req.on("end", () => resolve({ status, body: text === "" ? undefined : JSON.parse(text) }));
    req.on("error", reject);
    req.end(typeof body === "string" ? body : JSON.stringify(body));
  });
}
