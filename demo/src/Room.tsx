/** One room: its history, its live messages, and a form to post. */
import { createEffect, createSignal, For, on } from "solid-js";
import type { NotifClient } from "../../client/index.js";
import { createNotifSignal } from "../../client/solid.js";
import { type RoomName, roomNotifier, type ShownMessage } from "../shared.js";
import { fetchHistory, sendMessage } from "./api.js";

interface RoomProps {
  client: NotifClient;
  room: RoomName;
  /** Refetch the history when it changes. */
  epoch: number;
  onMute: (user: string) => void;
}

export function Room(props: RoomProps) {
  const [messages, setMessages] = createSignal<ShownMessage[]>([]);
  const [error, setError] = createSignal("");
  /** Messages added while the latest history fetch runs: they may be newer than it. */
  let arrived: ShownMessage[] | undefined;
  const add = (message: ShownMessage) => {
    arrived?.push(message);
    setMessages((list) => merge(list, [message]));
  };

  // Listens to this room while it is shown; every notification runs the effect.
  const latest = createNotifSignal(props.client, roomNotifier, { room: props.room });
  createEffect(on(latest, (message) => message && add(message), { defer: true }));

  // The history replaces what we have (after a gap, or a new mute list).
  createEffect(
    on(
      () => props.epoch,
      () => {
        const fetching: ShownMessage[] = [];
        arrived = fetching;
        fetchHistory(props.client, props.room).then(
          (history) => {
            if (arrived !== fetching) return; // a newer fetch is on its way
            arrived = undefined;
            setMessages(merge(history, fetching));
          },
          (e: Error) => setError(e.message),
        );
      },
    ),
  );

  let input!: HTMLInputElement;
  const send = (event: SubmitEvent) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text === "") return;
    input.value = "";
    setError("");
    sendMessage(props.client, props.room, text).then(
      add, // not echoed by the server: appended here
      (e: Error) => setError(e.message),
    );
  };

  return (
    <section class="room" data-room={props.room}>
      <h2>#{props.room}</h2>
      <ul>
        <For each={messages()}>
          {(m) => (
            <li class={m.mine ? "msg mine" : "msg"} data-id={m.id}>
              <span class="from">{m.mine ? "you" : m.from}</span>
              <span class="text">{m.text}</span>
              <time>{new Date(m.at).toLocaleTimeString([], { timeStyle: "short" })}</time>
              {!m.mine && (
                <button
                  type="button"
                  class="mute"
                  title={`hide ${m.from}'s messages`}
                  onClick={() => props.onMute(m.from)}
                >
                  mute
                </button>
              )}
            </li>
          )}
        </For>
      </ul>
      <form onSubmit={send}>
        <input ref={input} placeholder={`Message #${props.room}`} autocomplete="off" />
        <button type="submit">Send</button>
      </form>
      <p class="error">{error()}</p>
    </section>
  );
}

/** Messages once each (by id), in time order. */
function merge(list: ShownMessage[], incoming: ShownMessage[]): ShownMessage[] {
  const byId = new Map(list.map((m) => [m.id, m]));
  for (const m of incoming) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.at - b.at);
}
