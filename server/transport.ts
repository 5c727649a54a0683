/**
 * The two kinds of request and response a hub serves, HTTP/1.1 (`node:http`,
 * or an HTTP/2 server's `allowHTTP1` fallback) and HTTP/2 (`node:http2`'s
 * compatibility API), and where an SSE stream's bytes go on each.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** A request the hub serves: `node:http` (Express's `Request` is one) or `node:http2`. */
export type AnyRequest = IncomingMessage | Http2ServerRequest;
/** A response the hub writes: `node:http` or `node:http2`. */
export type AnyResponse = ServerResponse | Http2ServerResponse;

/** Where an open stream writes, with the backpressure of that stream alone. */
export interface Sink {
  /** Writes text; false when the bytes wait in memory. May throw: the stream is then cut. */
  write(text: string): boolean;
  /** Bytes written to this stream and not yet handed to the kernel or the peer's window. */
  readonly writableLength: number;
  once(event: "drain", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  removeListener(event: "drain" | "error", listener: (...args: never[]) => void): unknown;
}

const SSE_HEADERS = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache, no-transform",
  "X-Accel-Buffering": "no",
} as const;

/**
 * Sends the SSE headers and returns where the stream's bytes go.
 *
 * - HTTP/1.1: no chunked encoding (the body ends with the connection, hence
 *   `Connection: close`), and the socket itself, so that each batch is one
 *   plain socket write without `res.write`'s per-write cork and bookkeeping.
 * - HTTP/2: no connection-level header (forbidden there), and the HTTP/2
 *   stream, whose `writableLength` and `drain` are this stream's own; the
 *   session's socket is shared by every stream of the connection.
 */
export function openSink(res: AnyResponse): Sink {
  if (res instanceof Http2ServerResponse) {
    res.writeHead(200, SSE_HEADERS);
    return res.stream;
  }
  res.removeHeader("Transfer-Encoding");
  res.writeHead(200, { ...SSE_HEADERS, Connection: "close" });
  res.socket?.setNoDelay(true);
  return res.socket ?? res;
}
