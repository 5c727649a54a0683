/**
 * The client's POSTs: listen, unlisten and close bodies sent with `fetch`,
 * and their answers turned into what the listens loop understands.
 */
import {
  isErrorBody,
  isListenAnswers,
  type ListenAnswer,
  type ListenBody,
  type ListenItem,
  PATHS,
} from "../protocol/wire.js";

/** A refused request: the server's error code and message. */
export class RequestError extends Error {
  override readonly name = "RequestError";
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** `"ok"`: 204; `{ items }`: the positions of a 200; `"session"`: 410, the session is gone. */
export type SendResult = "ok" | "session" | { readonly items: readonly ListenAnswer[] };

/** POSTs one batch of listens or unlistens; throws a `RequestError` when refused. */
export type Send = (
  path: "/listen" | "/unlisten",
  session: string,
  items: ListenItem[],
) => Promise<SendResult>;

/** POSTs a JSON body to a path of the hub. */
export type Post = (path: string, body: object) => Promise<Response>;

/** Makes the POST of a client: its fetch, headers and credentials. */
export function makePost(
  base: string,
  doFetch: typeof fetch,
  headers: Record<string, string>,
  credentials: RequestCredentials,
): Post {
  return (path, body) =>
    doFetch(base + path, {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials,
      keepalive: path === PATHS.close,
    });
}

/**
 * Makes the `send` of the listens loop. A `200` whose body is not the
 * positions of every item counts as a listen without positions.
 */
export function makeSend(post: Post): Send {
  return async (path, id, items) => {
    const listen: ListenBody = { session: id, items };
    const res = await post(path, listen);
    if (res.status === 204) return "ok";
    const body: unknown = await res.json().catch(() => undefined);
    if (res.status === 200) return isListenAnswers(body, items.length) ? body : "ok";
    const code = isErrorBody(body) ? body.error.code : "http_error";
    if (code === "unknown_session") return "session";
    const message = isErrorBody(body) ? body.error.message : `HTTP ${res.status}`;
    throw new RequestError(res.status, code, `sse-notif: ${path} refused (${code}): ${message}`);
  };
}
