/** The page's calls to the demo's JSON API. */
import type { NotifClient } from "../../client/index.js";
import { type Me, type RoomName, roomNotifier, type ShownMessage } from "../shared.js";

async function json<T>(res: Response): Promise<T> {
  if (res.ok) return (await res.json()) as T;
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  throw new Error(body.error ?? `HTTP ${res.status}`);
}

const post = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

export const getMe = async (): Promise<Me | undefined> => {
  const res = await fetch("/api/me");
  return res.status === 401 ? undefined : json<Me>(res);
};
export const login = async (name: string) => json<Me>(await fetch("/api/login", post({ name })));
export const logout = async () => void (await fetch("/api/logout", { method: "POST" }));
export const setMuted = async (user: string, muted: boolean) =>
  json<Me>(await fetch("/api/mute", post({ user, muted })));

/** Posts through `client.fetch`, whose session header lets the server leave us out (`notfor`). */
export const sendMessage = async (client: NotifClient, room: RoomName, text: string) =>
  json<ShownMessage>(await client.fetch(`/api/rooms/${room}/messages`, post({ text })));

/**
 * A room's history, fetched once the room is listened to: anything posted
 * meanwhile comes live, so nothing falls between history and notifications.
 */
export async function fetchHistory(client: NotifClient, room: RoomName): Promise<ShownMessage[]> {
  await client.listen(roomNotifier, { room });
  try {
    return await json<ShownMessage[]>(await fetch(`/api/rooms/${room}/messages`));
  } finally {
    void client.unlisten(roomNotifier, { room });
  }
}
