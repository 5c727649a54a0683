/**
 * Type tests for serving over `node:http2` (SPEC §9): `hub.handler()` takes
 * both kinds of request and response, and `identify` is typed with what it
 * really receives (an Express `Request` under `router()`, a bare
 * `IncomingMessage` or `Http2ServerRequest` under `handler()`).
 */
import http from "node:http";
import http2 from "node:http2";
import express, { type Request } from "express";
import { createHub, type IdentifyRequest } from "../../server/index.js";

const hub = createHub<string | null>({
  identify: (req) => {
    const user = req.headers["x-user"]; // headers: on every kind of request
    return typeof user === "string" ? user : null;
  },
});
const serve = hub.handler("/notif");
http2.createSecureServer({ allowHTTP1: true }, (req, res) => serve(req, res) || res.end());
http2.createServer((req, res) => serve(req, res) || res.end());
http.createServer((req, res) => serve(req, res) || res.end());
express().use("/notif", hub.router());

// Express-only fields are not there under handler(): the type says so.
// @ts-expect-error `query` is Express's, absent from IncomingMessage and Http2ServerRequest
createHub({ identify: (req) => req.query.user ?? null });
// @ts-expect-error an identify that only takes an Express Request would get bare requests
createHub({ identify: (req: Request) => req.get("x-user") ?? null });
// Narrowing to what each mount gives is how to use more than headers.
createHub({
  identify: (req: IdentifyRequest) => ("stream" in req ? req.stream.id : req.method) ?? null,
});
// notfor: a request of either kind.
const chat = hub.notifier<string, string>({ name: "chat", keyId: (k) => k });
http2.createServer((req) => void chat.notify("k", "v", { notfor: req }));
