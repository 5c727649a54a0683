// A raw SSE client on node:http: no EventSource object, the stream is split
// into events incrementally and only the payload's timestamp is read.
import { Agent, type IncomingMessage, request } from "node:http";
import { nowMicros, type SessionSpec } from "../api.js";
import type { Conn, Sink } from "./sink.js";

const STAMP = '"t":';
/** Generous: 19,000 sessions connecting on a busy 2-core machine take a while each. */
const CONNECT_TIMEOUT_MS = 30_000;

/** Keep-alive agent for sse-notif's POST /listen, shared by a worker's sessions. */
const postAgent = new Agent({ keepAlive: true, maxSockets: 32 });

/** Calls `onEvent(text, start, end)` for each complete event of the stream. */
function splitEvents(
  res: IncomingMessage,
  onEvent: (text: string, start: number, end: number) => void,
) {
  let rest = "";
  res.setEncoding("latin1");
  res.on("data", (chunk: string) => {
    const text = rest.length > 0 ? rest + chunk : chunk;
    let start = 0;
    for (let end = text.indexOf("\n\n"); end !== -1; end = text.indexOf("\n\n", start)) {
      onEvent(text, start, end);
      start = end + 2;
    }
    rest = start === 0 ? text : text.slice(start);
  });
}

/** The value of field `name` in the event text[start, end), space after the colon optional. */
function fieldValue(text: string, start: number, end: number, name: string): string | undefined {
  let i = text.indexOf(`${name}:`, start);
  while (i > start && text[i - 1] !== "\n" && i < end) i = text.indexOf(`${name}:`, i + 1);
  if (i === -1 || i >= end) return undefined;
  let from = i + name.length + 1;
  if (text[from] === " ") from++;
  const eol = text.indexOf("\n", from);
  return text.slice(from, eol === -1 || eol > end ? end : eol);
}

/**
 * POST /listen, tried again when a kept-alive socket was closed by the server
 * just as it was reused (Node's keep-alive race: "socket hang up", ECONNRESET).
 */
async function listen(port: number, spec: SessionSpec, session: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listenOnce(port, spec, session);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= 3 || (code !== "ECONNRESET" && code !== "EPIPE")) throw error;
    }
  }
}

function listenOnce(port: number, spec: SessionSpec, session: string): Promise<void> {
  const body = JSON.stringify({ session, items: [{ notifier: "bench", key: spec.key }] });
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (spec.user) headers["x-user"] = spec.user;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/notif/listen", method: "POST", headers, agent: postAgent },
      (res) => {
        res.resume();
        if (res.statusCode === 204) resolve();
        else reject(new Error(`POST /notif/listen: status ${res.statusCode}`));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Opens one SSE session; resolves once it is listening: on `event: ready` for
 * the plain systems, after the `session` event and a 204 from /listen for sse-notif.
 */
export function openSse(
  port: number,
  spec: SessionSpec,
  sink: Sink,
  notif: boolean,
): Promise<Conn> {
  const path = notif ? "/notif/events" : `/events?key=${encodeURIComponent(spec.key)}`;
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (spec.user) headers["x-user"] = spec.user;
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers, agent: false });
    const conn: Conn = { close: () => req.destroy() };
    let ready = false;
    const timer = setTimeout(() => fail(new Error("not ready in time")), CONNECT_TIMEOUT_MS);
    function fail(error: Error) {
      clearTimeout(timer);
      req.destroy();
      reject(error);
    }
    function becomeReady() {
      clearTimeout(timer);
      ready = true;
      resolve(conn);
    }
    function onEvent(text: string, start: number, end: number) {
      const stamp = text.indexOf(STAMP, start);
      if (stamp !== -1 && stamp < end) {
        sink.record(nowMicros(), Number.parseFloat(text.slice(stamp + 4, stamp + 24)));
        return;
      }
      if (ready) return;
      const event = fieldValue(text, start, end, "event");
      if (event === "ready") becomeReady();
      if (event !== "session") return;
      const data = JSON.parse(fieldValue(text, start, end, "data") ?? "null") as {
        session: string;
      };
      listen(port, spec, data.session).then(becomeReady, fail);
    }
    req.on("error", (error) => (ready ? undefined : fail(error)));
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail(new Error(`GET ${path}: status ${res.statusCode}`));
        return;
      }
      splitEvents(res, onEvent);
      res.on("close", () => (ready ? sink.closed() : fail(new Error("closed before ready"))));
    });
    req.end();
  });
}
