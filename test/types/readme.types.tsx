/** README's examples, type-checked by `npm test` so that they stay true. */
import express from "express";
import { createEffect, createResource, For, on } from "solid-js";
import { createNotifClient } from "../../client/index.js";
import { createNotifSignal, createNotifState, createNotifStatus } from "../../client/solid.js";
import { defineNotifier } from "../../protocol/contract.js";
import { createHub } from "../../server/index.js";

const chat = defineNotifier<{ room: string }, { from: string; text: string }>("chat");

export function server() {
  const hub = createHub({
    identify: (req) => req.headers.cookie?.match(/user=(\w+)/)?.[1] ?? null,
  });
  const app = express();
  app.use("/notif", hub.router());
  const rooms = hub.notifier(chat);
  app.post("/rooms/:room", express.json(), async (req, res) => {
    await rooms.notify(
      { room: req.params.room },
      { from: "ann", text: req.body.text },
      { notfor: req },
    );
    res.sendStatus(204);
  });
  return app;
}

const client = createNotifClient({ url: "/notif" });

export function Header(props: { room: string }) {
  const last = createNotifSignal(client, chat, () => ({ room: props.room }));
  const state = createNotifState(client);
  return (
    <p>
      {state()}: {last()?.from} says {last()?.text}
    </p>
  );
}

const load = (room: string): Promise<{ from: string; text: string }[]> =>
  fetch(`/api/rooms/${room}`).then((r) => r.json());

export function Room(props: { room: string }) {
  const [history, { refetch, mutate }] = createResource(() => props.room, load);
  const latest = createNotifSignal(client, chat, () => ({ room: props.room }));
  const status = createNotifStatus(client);
  createEffect(on(latest, (msg) => msg && mutate((list = []) => [...list, msg]), { defer: true }));
  createEffect(on(status, (s) => s.gap && refetch(), { defer: true }));
  return (
    <ul classList={{ offline: status().state !== "open" }}>
      <For each={history()}>
        {(msg) => (
          <li>
            <b>{msg.from}</b> {msg.text}
          </li>
        )}
      </For>
    </ul>
  );
}

export async function plain() {
  client.on(chat, (key, msg) => console.log(key.room, msg.from, msg.text));
  await client.listen(chat, { room: "a" });
}
