// sse-notif with `history: false` (no per-key history, no positions): the
// same server as ssenotif.ts, to show what the default history costs.
process.env.SSE_NOTIF_HISTORY = "0";
await import("./ssenotif.js");
