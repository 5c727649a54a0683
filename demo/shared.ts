/** What the demo's server and page share: the rooms, the message types, the notifier. */
import { defineNotifier } from "../protocol/contract.js";

export const ROOMS = ["general", "random", "solid"] as const;
export type RoomName = (typeof ROOMS)[number];

/** A message as the server keeps it (the server notification). */
export interface Message {
  /** Unique across demo servers (they share notifications through Redis, not memory). */
  id: string;
  room: RoomName;
  from: string;
  text: string;
  at: number;
}

/** A message as one user sees it (the client notification): `mine` is "you". */
export interface ShownMessage extends Message {
  mine: boolean;
}

/** A room's messages: one key per room. */
export const roomNotifier = defineNotifier<{ room: RoomName }, ShownMessage>("room");

/** What `GET /api/me` answers. */
export interface Me {
  user: string;
  muted: string[];
}

export const isRoom = (value: unknown): value is RoomName =>
  typeof value === "string" && (ROOMS as readonly string[]).includes(value);

/** Names are short and plain: they are identities, cookie values and labels. */
export const USER_NAME = /^[A-Za-z0-9_-]{1,20}$/;
