/**
 * Hands the connection of an HTTP/1.1 SSE response over from `node:http`
 * once its headers are out, the way `node:http` hands over an upgraded
 * connection. An SSE response is its connection's last (`Connection: close`),
 * yet `node:http` keeps, for as long as it stays open, the request and
 * response objects (with all that Express and middleware put on them), the
 * parser waiting for a next request, and ten bound listeners: about 4 KiB of
 * heap per idle stream under `hub.handler()`, 9 KiB under Express (whose
 * per-request prototypes give each request and response a map of its own;
 * `npm run bench:heap`). After this only the socket is left, and the stream
 * writes to it directly.
 *
 * What middleware that ran before may still see: listeners it put on the
 * request or response (`close`, `finish`, `aborted`, `error`) hear `close`
 * when the connection ends (those objects are then kept), and `res.socket`
 * still names the socket (destroying it cuts the stream), and
 * `server.closeAllConnections()` still destroys it (the server's method is
 * wrapped once, as `node:http` no longer lists the connection).
 *
 * Anything unexpected (another Node's internals, a request still sending its
 * body, a pipelined one, HTTP/2) leaves the response as it is: the stream
 * then works as before, through `node:http`.
 */
import { type IncomingMessage, type Server, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { Socket } from "node:net";

type Listener = (...args: unknown[]) => void;

/** `node:http`'s own helper for an upgrade: unconsumes the socket, returns the parser to its pool. */
const freeParser = ((): ((parser: unknown, req: unknown, socket: unknown) => void) | undefined => {
  try {
    const common = createRequire(import.meta.url)("_http_common") as { freeParser?: unknown };
    return typeof common.freeParser === "function" ? (common.freeParser as never) : undefined;
  } catch {
    return undefined;
  }
})();

/** The listeners `node:http` puts on a server socket (Node 18 to 24), by event. */
const NODE_LISTENERS = {
  data: "bound socketOnData",
  end: "bound socketOnEnd",
  close: "bound socketOnClose",
  drain: "bound socketOnDrain",
  error: "socketOnError",
  timeout: "socketOnTimeout",
  pause: "onSocketPause",
  resume: "onSocketResume",
} as const;

/** What a foreign listener may wait for on the request or the response. */
const WATCHED = ["close", "finish", "aborted", "error"] as const;

interface ServerSocket extends Socket {
  parser?: { incoming?: unknown } | null;
  _httpMessage?: unknown;
  server?: Server;
}

/** Released connections of each server, for its `closeAllConnections`. */
const released = new WeakMap<Server, Set<Socket>>();

function untrack(this: ServerSocket): void {
  if (this.server) released.get(this.server)?.delete(this);
}

/** Keeps `server.closeAllConnections()` reaching a connection node:http no longer lists. */
function track(socket: ServerSocket): void {
  const server = socket.server;
  if (!server || typeof server.closeAllConnections !== "function") return;
  let sockets = released.get(server);
  if (!sockets) {
    const own = new Set<Socket>();
    sockets = own;
    released.set(server, own);
    const closeAll = server.closeAllConnections;
    server.closeAllConnections = function closeAllConnections(this: Server) {
      closeAll.call(this);
      for (const socket of [...own]) socket.destroy();
    };
  }
  sockets.add(socket);
  socket.on("close", untrack); // not once: its wrapper would cost more than the listener
}

function destroyThis(this: Socket): void {
  this.destroy();
}

function ignore(): void {}

/** Node's listeners of a socket, or undefined unless every one is where it should be. */
function nodeListeners(socket: Socket): [string, Listener][] | undefined {
  const found: [string, Listener][] = [];
  for (const [event, name] of Object.entries(NODE_LISTENERS)) {
    const listener = socket.listeners(event).find((l) => l.name === name);
    if (!listener) return undefined;
    found.push([event, listener as Listener]);
  }
  return found;
}

/** Tells listeners on `req` and `res` that the connection ended, as `node:http` would have. */
function forwardClose(req: IncomingMessage, res: ServerResponse): void {
  if (!res.destroyed) {
    (res as { destroyed: boolean }).destroyed = true;
    res.emit("close");
  }
  if (!req.destroyed) req.destroy();
}

/**
 * Releases an HTTP/1.1 response whose headers and first bytes are written;
 * returns its socket, now the stream's alone, or undefined when it left the
 * response as it was.
 */
export function releaseConnection(res: object): Socket | undefined {
  if (!(res instanceof ServerResponse)) return undefined; // HTTP/2: nothing of the kind to release
  const socket = res.socket as ServerSocket | null;
  const req = res.req as IncomingMessage | undefined;
  if (!freeParser || !socket || !req || typeof res.detachSocket !== "function") return undefined;
  const parser = socket.parser;
  if (socket._httpMessage !== res || !parser || parser.incoming !== req || !req.complete)
    return undefined;
  const listeners = nodeListeners(socket);
  const onFinish = res.listeners("finish").find((l) => l.name === "bound resOnFinish");
  if (!listeners || !onFinish) return undefined;
  for (const [event, listener] of listeners) socket.removeListener(event, listener);
  res.removeListener("finish", onFinish as Listener);
  res.detachSocket(socket);
  freeParser(parser, req, socket);
  (res as { socket: Socket | null }).socket = socket; // for middleware that cuts a stream through it
  track(socket);
  if (WATCHED.some((event) => res.listenerCount(event) > 0 || req.listenerCount(event) > 0)) {
    socket.once("close", () => forwardClose(req, res));
  }
  // What node:http did for this connection: end it when the client does, or when it times out.
  socket.on("end", destroyThis);
  socket.on("timeout", destroyThis);
  socket.on("error", ignore); // the stream listens too; this one only keeps an error from throwing
  socket.resume(); // read (and drop) whatever comes, so that the client's FIN is seen
  return socket;
}
