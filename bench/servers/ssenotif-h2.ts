// sse-notif served by `hub.handler()` on a cleartext HTTP/2 server (h2c):
// the same hub as ssenotif.ts; its clients put many streams on each connection.
process.env.SSE_NOTIF_H2 = "1";
await import("./ssenotif.js");
