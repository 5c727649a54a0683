/**
 * The page of the tab-sharing tests: the client bundled by Vite, driven by
 * the test through `window.harness` (page.evaluate).
 */
import {
  createNotifClient,
  defineNotifier,
  type NotifClient,
  onShare,
} from "../../../client/index.js";

const chat = defineNotifier<string, string>("chat");
/** Its values say who the server prepared them for. */
const who = defineNotifier<string, string>("who");

interface Harness {
  start(options: { share?: boolean; keys: string[] }): Promise<void>;
  listen(key: string): Promise<string>;
  unlisten(key: string): Promise<void>;
  /** Notifications received, as "key:value", in order. */
  events(): string[];
  /** Date.now() when each of `events()` arrived. */
  times(): number[];
  /** Date.now() when this tab last took the stream (0: never). */
  ledAt(): number;
  statuses(): Status[];
  /** `persisted` of each pageshow (true: back from the page cache). */
  shows(): boolean[];
  info(): { leader: boolean; tabs: number; shared: boolean; state: string; session?: string };
  ping(): Promise<number>;
  say(key: string, text: string): Promise<number>;
  /** Listens on `who` (recorded as "who/<key>:<value>"). */
  listenWho(key: string): Promise<string>;
  /** Logs in (the server sets the `user` cookie); "" logs out. */
  login(user: string): Promise<void>;
  reconnect(): void;
  close(): void;
}

interface Status {
  state: string;
  session: string | undefined;
  resumed: boolean;
  recovered: boolean;
  gap: boolean;
  lost: string[];
}

let client: NotifClient | undefined;
const received: string[] = [];
const times: number[] = [];
let ledAt = 0;
const statuses: Status[] = [];
const shows: boolean[] = [];
addEventListener("pageshow", (event) => shows.push(event.persisted));
let share = { leader: false, tabs: 0, shared: false };

const harness: Harness = {
  async start({ share: sharing, keys }) {
    client = createNotifClient({ url: "/notif", share: sharing });
    client.on(chat, (key, value) => {
      received.push(`${key}:${value}`);
      times.push(Date.now());
    });
    client.on(who, (key, value) => {
      received.push(`who/${key}:${value}`);
      times.push(Date.now());
    });
    client.onStatus((s) =>
      statuses.push({
        state: s.state,
        session: s.session,
        resumed: s.resumed,
        recovered: s.recovered,
        gap: s.gap,
        lost: s.lost.map((lost) => String(lost.key)),
      }),
    );
    onShare(client, (info) => {
      if (info.leader && !share.leader) ledAt = Date.now();
      share = info;
    });
    await Promise.all(keys.map((key) => client?.listen(chat, key)));
  },
  listen: (key) =>
    (client as NotifClient).listen(chat, key).then(
      () => "ok",
      (error: Error & { code?: string }) => `${error.name}:${error.code}`,
    ),
  unlisten: (key) => (client as NotifClient).unlisten(chat, key),
  events: () => [...received],
  times: () => [...times],
  ledAt: () => ledAt,
  statuses: () => [...statuses],
  shows: () => [...shows],
  info: () => ({
    ...share,
    state: client?.state() ?? "none",
    session: client?.session(),
  }),
  ping: async () => (await fetch("/api/ping")).status,
  say: async (key, text) =>
    (
      await (client as NotifClient).fetch(
        `/api/say?key=${encodeURIComponent(key)}&text=${encodeURIComponent(text)}`,
        { method: "POST" },
      )
    ).status,
  listenWho: (key) =>
    (client as NotifClient).listen(who, key).then(
      () => "ok",
      (error: Error & { code?: string }) => `${error.name}:${error.code}`,
    ),
  login: async (user) => {
    await fetch(`/api/login?user=${encodeURIComponent(user)}`, { method: "POST" });
  },
  reconnect: () => client?.reconnect(),
  close: () => client?.close(),
};

(window as unknown as { harness: Harness }).harness = harness;
