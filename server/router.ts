/**
 * The hub's HTTP endpoints on plain `node:http` and `node:http2` requests:
 * parse, validate in the protocol's order, answer errors as JSON, call the
 * hub. Nothing thrown here escapes. `hub.router()` mounts this in Express;
 * `hub.handler()` serves it from a bare `http.Server` or `http2` server (no
 * Express cost per open stream).
 */
import http2, { Http2ServerResponse } from "node:http2";
import { PATHS, type SessionId } from "../protocol/wire.js";
import { parseCloseBody, parseListenBody, readJson } from "./body.js";
import type { HubCore } from "./core.js";
import { NotifError, toError, unknownSession } from "./errors.js";
import type { Op, SessionRequest } from "./messages.js";
import type { AnyRequest, AnyResponse } from "./transport.js";

/** Serves one request if its (mount-relative) path is the hub's; false otherwise. */
export type Handle = (req: AnyRequest, res: AnyResponse, path: string) => boolean;

/** What the endpoints need of the hub. */
export type RouterHost<Identity> = Pick<
  HubCore<Identity>,
  "options" | "closing" | "started" | "reachable" | "identityId" | "route" | "openStream"
>;

/** Builds the request handler of a hub. */
export function makeHandle<Identity>(core: RouterHost<Identity>, stats: () => object): Handle {
  return (req, res, path) => {
    let served: Promise<void> | undefined;
    const method = req.method;
    if (path === PATHS.events && (method === "GET" || method === "HEAD"))
      served = events(core, req, res, path);
    else if (path === PATHS.listen && method === "POST")
      served = post(core, req, res, path, "listen");
    else if (path === PATHS.unlisten && method === "POST")
      served = post(core, req, res, path, "unlisten");
    else if (path === PATHS.close && method === "POST")
      served = post(core, req, res, path, "close");
    else if (path === PATHS.stats && method === "GET")
      served = (async () => serveStats(core, res, stats))();
    else return false;
    served.catch((error: unknown) => answerError(core, path, res, error));
    return true;
  };
}

async function identify<Identity>(
  core: RouterHost<Identity>,
  req: AnyRequest,
  path: string,
): Promise<Identity> {
  try {
    return await core.options.identify(req);
  } catch (error) {
    core.options.onError(toError(error), { during: "identify", path });
    throw new NotifError("forbidden", "the request's identity could not be established", {
      cause: error,
    });
  }
}

/** Refuses a request to a closing hub, and closes its connection (see `leaveIfClosing`). */
function refuseIfClosing<Identity>(core: RouterHost<Identity>, res: AnyResponse): void {
  if (!core.closing) return;
  leaveIfClosing(core, res);
  throw new NotifError("unavailable", "this hub is closed; reconnect to another server");
}

/**
 * A POST on a session: 410 when no node holds it, then the caller's
 * identity, then the rest on the node that holds it.
 */
async function onSession<Identity>(
  core: RouterHost<Identity>,
  req: AnyRequest,
  path: string,
  op: Op,
  session: SessionId,
  items: SessionRequest["items"],
) {
  if (!core.reachable(session)) {
    throw unknownSession();
  }
  const identityId = core.identityId(await identify(core, req, path));
  return core.route({ op, session, identityId, items });
}

async function events<Identity>(
  core: RouterHost<Identity>,
  req: AnyRequest,
  res: AnyResponse,
  path: string,
) {
  refuseIfClosing(core, res);
  if (req.method === "HEAD") {
    res.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8" }).end();
    return; // headers only: no session
  }
  const identity = await identify(core, req, path);
  // Before this node hands out session ids, it must hear requests for them on the bus.
  await core.started;
  refuseIfClosing(core, res);
  const header = req.headers["last-event-id"];
  const query = new URL(req.url ?? "/", "http://x").searchParams.get("lastEventId");
  core.openStream(req, res, identity, typeof header === "string" && header !== "" ? header : query);
}

async function post<Identity>(
  core: RouterHost<Identity>,
  req: AnyRequest,
  res: AnyResponse,
  path: string,
  op: Op,
) {
  refuseIfClosing(core, res);
  const { maxBodyBytes, bodyTimeout } = core.options;
  const body = await readJson(req, maxBodyBytes, bodyTimeout).catch((error: unknown) => {
    if (error instanceof NotifError && error.code === "request_timeout")
      closeWhenAnswered(req, res);
    throw error;
  });
  let answers: Awaited<ReturnType<typeof onSession>>;
  if (op === "close") await onSession(core, req, path, op, parseCloseBody(body), []);
  else {
    const { session, items } = parseListenBody(body);
    answers = await onSession(core, req, path, op, session, items);
  }
  leaveIfClosing(core, res); // it began closing meanwhile
  if (answers) return answer(res, 200, answers); // a listen with `since` (SPEC §6)
  res.writeHead(204).end();
}

function serveStats<Identity>(core: RouterHost<Identity>, res: AnyResponse, stats: () => object) {
  if (!core.options.stats) throw new NotifError("not_found", "stats are turned off (stats: false)");
  answer(res, 200, stats());
}

function answer(res: AnyResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
  });
  res.end(text);
}

/**
 * A request whose body is still trickling in is not kept: once answered, its
 * HTTP/1.1 connection or HTTP/2 stream is closed.
 */
function closeWhenAnswered(req: AnyRequest, res: AnyResponse): void {
  if (res instanceof Http2ServerResponse) {
    // A complete answer, then RST_STREAM(NO_ERROR): "stop sending" (RFC 9113 §8.1).
    const { stream } = res;
    stream.once("finish", () => stream.close(http2.constants.NGHTTP2_NO_ERROR));
    return;
  }
  res.setHeader("Connection", "close");
  res.once("finish", () => req.destroy());
}

/**
 * A closing hub keeps no connection for a client's next request: a pooled
 * keep-alive connection would bring the client's reconnects and retries
 * back here (503 after 503, its backoff growing) instead of through the
 * load balancer to another node. HTTP/1.1: `Connection: close`; HTTP/2: a
 * graceful GOAWAY (streams already open end on their own).
 */
function leaveIfClosing<I>(core: RouterHost<I>, res: AnyResponse): void {
  if (!core.closing) return;
  if (res instanceof Http2ServerResponse) res.stream.session?.close();
  else if (!res.headersSent) res.setHeader("Connection", "close");
}

/** Answers a failed request; never throws (a response already gone is destroyed). */
function answerError<I>(
  core: RouterHost<I>,
  path: string,
  res: AnyResponse,
  thrown: unknown,
): void {
  const error =
    thrown instanceof NotifError
      ? thrown
      : new NotifError("internal", "the server failed to handle this request", { cause: thrown });
  try {
    if (!(thrown instanceof NotifError)) {
      core.options.onError(toError(thrown), { during: "request", path });
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    leaveIfClosing(core, res);
    answer(res, error.status, error.toBody());
  } catch (failed) {
    try {
      core.options.onError(toError(failed), { during: "error answer", path, code: error.code });
      res.destroy();
    } catch {
      // nothing left to answer with: the response is gone
    }
  }
}
