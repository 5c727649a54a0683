/**
 * The worst case one session can make a node hold with default options
 * (README "Memory per session"): 1,000 keys (maxKeysPerSession) of 1,024
 * bytes (maxKeyBytes), each its own topic, and a full replay buffer of
 * distinct events (retentionBytes 1 MiB, reached before retention's 1,000
 * events) while its stream is gone. Real HTTP on port 0; heap measured after
 * gc, divided by the number of sessions.
 *
 *   node --expose-gc --import tsx bench/worst-session.ts [sessions=20] [--no-history]
 *
 * With history on (the default) the in-process history also keeps the last
 * 100 notifications of each key (SPEC §6): here each session's key is its
 * own, so that is counted too; `--no-history` shows the session alone.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createHub, defineNotifier } from "../server/index.js";

const sessions = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 20);
const history = !process.argv.includes("--no-history");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const hub = createHub<string>({
  identify: (req) => String(req.headers["x-user"]),
  ...(history ? {} : { history: false as const }),
});
const big = defineNotifier<string, string>("big");
// Each identity gets its own 10 kB body: no sharing between sessions.
const notifier = hub.notifier(big, { prepare: (user, value: string) => `${user}:${value}` });
const serve = hub.handler("/notif");
const server = http.createServer((req, res) => serve(req, res) || res.writeHead(404).end());
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notif`;

async function open(user: string): Promise<string> {
  const res = await fetch(`${base}/events`, { headers: { "x-user": user } });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n\n", text.indexOf("event: session"))) {
    text += new TextDecoder().decode((await reader.read()).value);
  }
  await reader.cancel(); // the stream goes: the session waits for a resume, sessionTimeout
  return /"session":"([^"]+)"/.exec(text)?.[1] as string;
}

const before = heap();
const ids: string[] = [];
for (let s = 0; s < sessions; s += 1) {
  const user = `user-${s}`;
  const session = await open(user);
  ids.push(session);
  for (let k = 0; k < 1_000; k += 14) {
    const items = [];
    for (let i = k; i < Math.min(k + 14, 1_000); i += 1) {
      items.push({ notifier: "big", key: `${s}-${i}-`.padEnd(1_022, "k") }); // 1,024 bytes as JSON
    }
    const res = await fetch(`${base}/listen`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-user": user },
      body: JSON.stringify({ session, items }),
    });
    if (res.status !== 204) throw new Error(`listen: ${res.status} ${await res.text()}`);
  }
}
const listened = heap();
for (let n = 0; n < 120; n += 1) {
  for (let s = 0; s < sessions; s += 1) {
    await notifier.notify(`${s}-0-`.padEnd(1_022, "k"), `${n}:`.padEnd(10_000, "v"));
  }
}
const filled = heap();
const stats = hub.stats();
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
console.log(
  `${sessions} sessions, ${stats.listens / sessions} keys of 1,024 bytes each, ` +
    `replay buffer full (1 MiB of 10 kB events), history ${history ? "on" : "off"}:\n` +
    `  keys:          ${kib((listened - before) / sessions)} per session\n` +
    `  replay buffer: ${kib((filled - listened) / sessions)} per session\n` +
    `  total heap:    ${kib((filled - before) / sessions)} per session` +
    ` (+ up to maxBufferedBytes, 1 MiB, in its socket while a stream is open)`,
);
await hub.close();
server.close();
