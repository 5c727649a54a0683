/** `createNotifClient`: a shared stream where the browser can share one, else a stream of its own. */
import { createStreamClient, type NotifClient, type NotifClientOptions } from "./client.js";
import { canShare, createSharedClient } from "./share.js";

/**
 * Connects to a hub. In a browser with `navigator.locks` and
 * `BroadcastChannel`, the tabs of one origin using the same `url` share one
 * stream and one session (`share: false` gives each its own).
 * @example
 * const client = createNotifClient({ url: "/notif" });
 * client.on(chat, (key, msg) => console.log(key.room, msg.text));
 * await client.listen(chat, { room: "a" });
 */
export function createNotifClient(options: NotifClientOptions): NotifClient {
  if (typeof options?.url !== "string")
    throw new TypeError("sse-notif: createNotifClient needs a url");
  if (options.share !== undefined && typeof options.share !== "boolean")
    throw new TypeError("sse-notif: createNotifClient's share option must be a boolean");
  return (options.share ?? true) && canShare()
    ? createSharedClient(options)
    : createStreamClient(options);
}
