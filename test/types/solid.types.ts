/**
 * Type tests of sse-notif/solid: this file must compile (`tsc --noEmit`), and
 * each `@ts-expect-error` line must fail. It is never run.
 */
import type { Accessor } from "solid-js";
import type { NotifClient } from "../../client/client.js";
import {
  createNotifSignal,
  createNotifState,
  createNotifStatus,
  type NotifSignalOptions,
} from "../../client/solid.js";
import { defineNotifier } from "../../protocol/contract.js";

declare const client: NotifClient;
declare function expectType<T>(value: T): void;

interface Message {
  from: string;
  text: string;
}
const chat = defineNotifier<{ room: string }, Message>("chat");
const counter = defineNotifier<number, number>("counter");

// The definition types the accessor.
const last = createNotifSignal(client, chat, { room: "a" });
expectType<Accessor<Message | undefined>>(last);
expectType<string | undefined>(last()?.text);
// @ts-expect-error the value is undefined until the first notification
expectType<Message>(last());

// With `initial`, the value is never undefined.
const count = createNotifSignal(client, counter, 1, { initial: 0 });
expectType<Accessor<number>>(count);
// @ts-expect-error `initial` must be a client notification
createNotifSignal(client, counter, 1, { initial: "zero" });

// A reactive key: an accessor of the key, or of undefined.
createNotifSignal(client, chat, () => ({ room: "b" }));
createNotifSignal(client, chat, () => undefined);

// @ts-expect-error wrong key type
createNotifSignal(client, chat, { room: 1 });
// @ts-expect-error wrong key shape
createNotifSignal(client, chat, "a");
// @ts-expect-error wrong key type from an accessor
createNotifSignal(client, chat, () => ({ name: "b" }));
// @ts-expect-error a number notifier takes number keys
createNotifSignal(client, counter, "1");

// onError gets the key's type.
const options: NotifSignalOptions<{ room: string }, Message> = {
  onError: (error, key) => expectType<[Error, string]>([error, key.room]),
};
createNotifSignal(client, chat, { room: "a" }, options);
createNotifSignal(
  client,
  chat,
  { room: "a" },
  {
    // @ts-expect-error the key of a chat notifier has no `id`
    onError: (_error, key) => key.id,
  },
);

expectType<Accessor<"connecting" | "open" | "closed">>(createNotifState(client));
const status = createNotifStatus(client);
expectType<boolean>(status().gap);
expectType<boolean>(status().resumed);
