// An HTTP/2 (h2c) sse-notif client: many SSE streams share a few connections
// (STREAMS_PER_CONNECTION each), as browsers share one connection per origin.
import http2, { type ClientHttp2Session } from "node:http2";
import { nowMicros, type SessionSpec } from "../api.js";
import type { Conn, Sink } from "./sink.js";

/** Streams opened on one connection before the next connection is opened. */
export const STREAMS_PER_CONNECTION = 100;
const STAMP = '"t":';
const CONNECT_TIMEOUT_MS = 10_000;

let current: { session: ClientHttp2Session; streams: number } | undefined;

/** The connection the next stream goes on. */
function connection(port: number): ClientHttp2Session {
  if (!current || current.streams >= STREAMS_PER_CONNECTION || current.session.destroyed) {
    const session = http2.connect(`http://127.0.0.1:${port}`, {
      settings: { initialWindowSize: 1 << 20 },
    });
    session.on("error", () => {}); // each stream reports its own failure
    current = { session, streams: 0 };
  }
  current.streams += 1;
  return current.session;
}

function listen(session: ClientHttp2Session, spec: SessionSpec, id: string): Promise<void> {
  const body = JSON.stringify({ session: id, items: [{ notifier: "bench", key: spec.key }] });
  const headers: http2.OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": "/notif/listen",
    "content-type": "application/json",
    ...(spec.user ? { "x-user": spec.user } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    req.on("response", (h) =>
      h[":status"] === 204 ? resolve() : reject(new Error(`POST /listen: ${h[":status"]}`)),
    );
    req.on("error", reject);
    req.resume();
    req.end(body);
  });
}

/** Opens one SSE stream on a shared connection; resolves once it listens. */
export function openH2(port: number, spec: SessionSpec, sink: Sink): Promise<Conn> {
  const session = connection(port);
  const headers = { ":path": "/notif/events", accept: "text/event-stream" };
  const req = session.request(spec.user ? { ...headers, "x-user": spec.user } : headers);
  const conn: Conn = { close: () => req.close() };
  return new Promise((resolve, reject) => {
    let ready = false;
    let rest = "";
    const timer = setTimeout(() => fail(new Error("not ready in time")), CONNECT_TIMEOUT_MS);
    function fail(error: Error) {
      clearTimeout(timer);
      req.close();
      reject(error);
    }
    function onEvent(text: string) {
      const stamp = text.indexOf(STAMP);
      if (stamp !== -1) {
        sink.record(nowMicros(), Number.parseFloat(text.slice(stamp + 4, stamp + 24)));
      } else if (!ready && text.includes("event: session")) {
        const id = /"session":"([^"]+)"/.exec(text)?.[1] ?? "";
        listen(session, spec, id).then(() => {
          clearTimeout(timer);
          ready = true;
          resolve(conn);
        }, fail);
      }
    }
    req.setEncoding("latin1");
    req.on("data", (chunk: string) => {
      const text = rest + chunk;
      let start = 0;
      for (let end = text.indexOf("\n\n"); end !== -1; end = text.indexOf("\n\n", start)) {
        onEvent(text.slice(start, end));
        start = end + 2;
      }
      rest = text.slice(start);
    });
    req.on("error", (error) => (ready ? undefined : fail(error)));
    req.on("close", () => (ready ? sink.closed() : fail(new Error("closed before ready"))));
  });
}
