// A process of the recovery benchmark's clients: real sse-notif clients
// (the `eventsource` package in Node), each listening on one key and
// recording when notifications and statuses arrive.
import { EventSource } from "eventsource";
import { createNotifClient, defineNotifier, type NotifClient } from "../../client/index.js";
import { serveParent } from "../ipc.js";
import type { ClientSummary, ClientsApi } from "./api.js";

const chat = defineNotifier<string, string>("chat");

interface Watched {
  readonly client: NotifClient;
  readonly key: string;
  readonly values: string[];
  /** Arrival time of each value. */
  readonly times: number[];
  readonly statuses: { at: number; session?: string; recovered: boolean; gap: boolean }[];
}

const watched: Watched[] = [];
let mark = 0;
let markIndex: number[] = [];
let markSession: (string | undefined)[] = [];

function watch(url: string, key: string, retry: number, jitter: boolean): Watched {
  const client = createNotifClient({ url, EventSource, reconnect: { retry, jitter } });
  const w: Watched = { client, key, values: [], times: [], statuses: [] };
  client.on(chat, (_key, value) => {
    w.values.push(value);
    w.times.push(Date.now());
  });
  client.onStatus((s) => {
    if (s.state === "open")
      w.statuses.push({ at: Date.now(), session: s.session, recovered: s.recovered, gap: s.gap });
  });
  return w;
}

function summarise(w: Watched, i: number, target: number): ClientSummary {
  const from = markIndex[i] ?? 0;
  const exact =
    w.values.length === target && w.values.every((value, n) => value === `${w.key}.${n}`);
  const after = w.statuses.find((s) => s.at >= mark && s.session !== markSession[i]);
  return {
    caughtUp: w.values.length >= target ? w.times[target - 1] : undefined,
    first: w.times[from],
    relistened: after?.at,
    recovered: after?.recovered ?? false,
    gap: w.statuses.some((s) => s.gap),
    exact,
  };
}

serveParent<ClientsApi>({
  async start({ url, count, keys, retry, jitter }) {
    const start = performance.now();
    for (let i = 0; i < count; i += 1)
      watched.push(watch(url, keys[i % keys.length] as string, retry, jitter));
    await Promise.all(watched.map((w) => w.client.listen(chat, w.key)));
    return { ms: performance.now() - start };
  },
  async mark({ at }) {
    mark = at;
    markIndex = watched.map((w) => w.values.length);
    markSession = watched.map((w) => w.client.session());
    return null;
  },
  async collect({ target, relisten, ms }) {
    const deadline = Date.now() + ms;
    const moved = (w: Watched, i: number) =>
      w.statuses.some((s) => s.at >= mark && s.session !== markSession[i]);
    const done = () =>
      watched.every((w, i) => w.values.length >= target && (!relisten || moved(w, i)));
    while (Date.now() < deadline && !done())
      await new Promise((resolve) => setTimeout(resolve, 20));
    return watched.map((w, i) => summarise(w, i, target));
  },
});
