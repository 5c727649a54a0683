/**
 * Type tests, checked by `tsc --noEmit` in `npm test`: every line compiles,
 * and each `@ts-expect-error` line must fail to (else tsc reports it unused).
 */

import { createNotifClient } from "../../client/index.js";
import { defineNotifier } from "../../protocol/contract.js";
import { createHub } from "../../server/index.js";

const chat = defineNotifier<{ room: string }, { from: string; text: string }>("chat");
const hub = createHub<{ user: string } | null>({ identify: () => null });

// Make_Simple: the server notification is the client one.
const simple = hub.notifier(chat);
void simple.notify({ room: "a" }, { from: "ann", text: "hi" });
// @ts-expect-error the key has the wrong shape
void simple.notify({ name: "a" }, { from: "ann", text: "hi" });
// @ts-expect-error the value is not a ClientNotif
void simple.notify({ room: "a" }, { text: 1 });
void simple.notify(
  { room: "a" },
  { from: "ann", text: "hi" },
  { notfor: { identity: { user: "ann" } } },
);
// @ts-expect-error notfor identity must be an Identity
void simple.notify({ room: "a" }, { from: "ann", text: "hi" }, { notfor: { identity: 42 } });
void simple.notify({ room: "a" }, { from: "ann", text: "hi" }, { notfor: { session: "s" } });

// Make: prepare turns a ServerNotif into the ClientNotif per identity.
const custom = createHub<{ user: string } | null>().notifier(chat, {
  prepare: (identity, value: { author: string; text: string; hidden: string[] }) =>
    identity && value.hidden.includes(identity.user)
      ? undefined
      : { from: value.author, text: value.text },
  parseKey: (raw) => raw as { room: string },
  authorize: async (identity, key) => identity !== null && key.room !== "secret",
});
void custom.notify({ room: "a" }, { author: "ann", text: "hi", hidden: [] });
// @ts-expect-error the server notification of this notifier is not the client one
void custom.notify({ room: "a" }, { from: "ann", text: "hi" });

hub.notifier(chat, {
  // @ts-expect-error prepare must return a ClientNotif (or undefined)
  prepare: () => ({ wrong: true }),
});

const n: number = simple.listeners({ room: "a" });
void n;
void simple.unlistenIdentity({ user: "ann" }, { room: "a" });
// @ts-expect-error unlistenIdentity takes an Identity
void simple.unlistenIdentity("ann", { room: "a" });

// The client side of the same definition.
const client = createNotifClient({ url: "http://127.0.0.1/notif" });
client.on(chat, (key, value) => {
  const room: string = key.room;
  const text: string = value.text;
  void room;
  void text;
});
void client.listen(chat, { room: "a" });
// @ts-expect-error wrong key type for this notifier
void client.listen(chat, { room: 1 });
client.on(chat, (_key, value) => {
  // @ts-expect-error value has no such field
  void value.missing;
});
// @ts-expect-error createHub's options are checked
createHub({ retention: "many" });
