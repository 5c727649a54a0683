// sse-notif mounted in Express (`app.use("/notif", hub.router())`): the same
// server as ssenotif.ts, to show what Express costs per open stream.
process.env.SSE_NOTIF_EXPRESS = "1";
await import("./ssenotif.js");
