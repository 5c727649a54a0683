/**
 * `createSharedClient`: a client whose tabs share one stream and one session
 * (SPEC §7), the same `NotifClient` as one with a stream of its own; and
 * `onShare`, to show how many tabs share it.
 */
import type { NotifClient, NotifClientOptions } from "./client.js";
import { SharedTab } from "./tab.js";
import type { ShareInfo } from "./tabstatus.js";

export type { ShareInfo } from "./tabstatus.js";

const tabs = new WeakMap<NotifClient, SharedTab>();

/**
 * Calls `handler` now and whenever the tabs sharing `client`'s stream change
 * (how many, and whether this tab holds the stream). For a client with a
 * stream of its own, once with `shared: false`.
 * @returns the function that stops it
 * @example onShare(client, (info) => console.log(`${info.tabs} tabs share one connection`));
 */
export function onShare(client: NotifClient, handler: (info: ShareInfo) => void): () => void {
  const tab = tabs.get(client);
  if (tab) return tab.report.onShare(handler);
  handler({ shared: false, leader: true, tabs: 1 });
  return () => {};
}

/** Can this page share a stream between its tabs? */
export function canShare(): boolean {
  return (
    typeof navigator !== "undefined" &&
    typeof navigator.locks?.request === "function" &&
    typeof BroadcastChannel === "function" &&
    typeof location !== "undefined" &&
    typeof addEventListener === "function"
  );
}

/** A tab's client of the stream it shares with the other tabs of its origin on `url`. */
export function createSharedClient(options: NotifClientOptions): NotifClient {
  const tab = new SharedTab(options);
  const client: NotifClient = {
    listen: (def, key) => tab.listens.listen(def, key),
    unlisten: (def, key) => tab.listens.unlisten(def, key),
    on: (def, handler) =>
      tab.events.on(def as never, handler as (key: unknown, value: unknown) => void),
    session: () => tab.report.status.session,
    state: () => tab.report.status.state,
    onStatus: (handler) => tab.report.onStatus(handler),
    fetch: (input, init) => tab.fetch(input, init),
    reconnect: () => tab.reconnect(),
    close: () => tab.close(),
  };
  tabs.set(client, tab);
  return client;
}
