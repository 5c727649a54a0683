/**
 * The demo's memory: the last messages of each room, and who mutes whom. No
 * I/O. Each server process has its own (a real app would use a database).
 */
import { randomUUID } from "node:crypto";
import { type Message, ROOMS, type RoomName, type ShownMessage } from "./shared.js";

/** Messages kept per room. */
const HISTORY = 50;

export class Store {
  readonly #rooms = new Map<RoomName, Message[]>(ROOMS.map((room) => [room, []]));
  readonly #muted = new Map<string, Set<string>>();
  readonly #prefix = randomUUID().slice(0, 8);
  #count = 0;

  add(room: RoomName, from: string, text: string): Message {
    const message: Message = {
      id: `${this.#prefix}-${++this.#count}`,
      room,
      from,
      text,
      at: Date.now(),
    };
    const list = this.#rooms.get(room) ?? [];
    list.push(message);
    if (list.length > HISTORY) list.shift();
    this.#rooms.set(room, list);
    return message;
  }

  /** What `viewer` sees of `message`: marked when it is theirs, hidden when they mute its author. */
  show(viewer: string | null, message: Message): ShownMessage | undefined {
    if (viewer !== null && this.#muted.get(viewer)?.has(message.from)) return undefined;
    return { ...message, mine: message.from === viewer };
  }

  history(viewer: string | null, room: RoomName): ShownMessage[] {
    return (this.#rooms.get(room) ?? []).flatMap((m) => this.show(viewer, m) ?? []);
  }

  muted(user: string): string[] {
    return [...(this.#muted.get(user) ?? [])].sort();
  }

  setMuted(user: string, other: string, muted: boolean): void {
    const set = this.#muted.get(user) ?? new Set();
    if (muted && other !== user) set.add(other);
    else set.delete(other);
    this.#muted.set(user, set);
  }
}
