/**
 * sse-notif/solid: SolidJS primitives over a {@link NotifClient}. Each one
 * subscribes when created and lets go through `onCleanup` when its owner (a
 * component, `createRoot`) is disposed. Under SSR they return their initial
 * value and open nothing.
 */
import {
  type Accessor,
  createComputed,
  createMemo,
  createSignal,
  getOwner,
  onCleanup,
  untrack,
} from "solid-js";
import { isServer } from "solid-js/web";
import type { NotifierDef } from "../protocol/contract.js";
import { toError } from "../protocol/to-error.js";
import type { NotifClient } from "./api.js";
import { makeStatus, type NotifState, type NotifStatus } from "./status.js";

export type { LostKey, NotifState, NotifStatus } from "./status.js";

/** A fixed key, or an accessor of the key to listen on (`undefined`: listen on nothing). */
export type KeySource<K> = K | (() => K | undefined);

/** Options of {@link createNotifSignal}. */
export interface NotifSignalOptions<K, N> {
  /**
   * The value before the first notification, and again after each key change.
   * @default undefined
   */
  initial?: N;
  /**
   * Called when a listen fails (refused by the server, client closed); the
   * signal then keeps its initial value. Never thrown into reactive code.
   * @default `console.error`
   */
  onError?: (error: Error, key: K) => void;
}

/**
 * The latest notification on one key of a notifier, as a Solid accessor.
 *
 * Listens when created, unlistens when its owner is disposed. With a key
 * accessor it follows the key: it unlistens the old key, listens on the new
 * one (none when `undefined`) and goes back to `initial`. Keys are compared
 * with `def.keyId`, so an accessor building a new but equal object moves
 * nothing. Signals on one key share one server listen (the client counts
 * references). Every notification updates the signal, even one equal to the
 * last. Called outside a reactive owner it still works but never unlistens:
 * it warns once.
 *
 * @param client the connection, from `createNotifClient`
 * @param def the notifier's shared definition: it types the key and the value
 * @param key a key, or an accessor of it
 * @example
 * const room = createNotifSignal(client, chat, () => ({ room: props.room }));
 * return <p>{room()?.text ?? "nothing yet"}</p>;
 */
export function createNotifSignal<K, N>(
  client: NotifClient,
  def: NotifierDef<K, N>,
  key: KeySource<NoInfer<K>>,
  options: NotifSignalOptions<NoInfer<K>, NoInfer<N>> & { initial: NoInfer<N> },
): Accessor<N>;
export function createNotifSignal<K, N>(
  client: NotifClient,
  def: NotifierDef<K, N>,
  key: KeySource<NoInfer<K>>,
  options?: NotifSignalOptions<NoInfer<K>, NoInfer<N>>,
): Accessor<N | undefined>;
export function createNotifSignal<K, N>(
  client: NotifClient,
  def: NotifierDef<K, N>,
  key: KeySource<K>,
  options: NotifSignalOptions<K, N> = {},
): Accessor<N | undefined> {
  const { initial, onError = logError } = options;
  if (isServer) return () => initial;
  warnOutsideOwner("createNotifSignal");
  const [value, setValue] = createSignal<N | undefined>(initial, { equals: false });
  const current = keyAccessor(def, key);
  const listened: Listened = { id: undefined };

  onCleanup(
    client.on(def, (received, notification) => {
      if (listened.id !== undefined && def.keyId(received) === listened.id)
        setValue(() => notification);
    }),
  );

  createComputed(() => {
    const next = current();
    setValue(() => initial);
    listened.id = undefined;
    // untracked: onError may read signals
    if (next !== undefined) untrack(() => follow(client, def, next, listened, onError));
  });
  return value;
}

/** The id of the key a signal listens to now; `undefined` while none. */
interface Listened {
  id: string | undefined;
}

/** Listens on `key` until the key changes or the owner goes. */
function follow<K>(
  client: NotifClient,
  def: NotifierDef<K, unknown>,
  key: K,
  listened: Listened,
  onError: (error: Error, key: K) => void,
): void {
  let active = true;
  const fail = (error: unknown) => active && onError(toError(error), key);
  try {
    listened.id = def.keyId(key);
    client.listen(def, key).catch(fail);
  } catch (error) {
    fail(error);
    return;
  }
  onCleanup(() => {
    active = false;
    listened.id = undefined;
    client.unlisten(def, key).catch(() => {}); // the session ends with the page anyway
  });
}

/**
 * The connection state, as a Solid accessor.
 *
 * @example
 * const state = createNotifState(client);
 * return <span class={`badge ${state()}`}>{state()}</span>;
 */
export function createNotifState(client: NotifClient): Accessor<NotifState> {
  if (isServer) return () => "connecting";
  warnOutsideOwner("createNotifState");
  const [state, setState] = createSignal<NotifState>(client.state());
  onCleanup(client.onStatus((status) => setState(status.state)));
  return state;
}

/**
 * The connection status, as a Solid accessor updated on every change: state,
 * session, and whether the stream `resumed` its session or, on a new
 * session, `recovered` every key by position (nothing missed either way), or
 * had a `gap`: then `lost` names the keys that may have missed
 * notifications (refetch what you show of them). This is how to react to gaps.
 *
 * @example
 * const status = createNotifStatus(client);
 * createEffect(on(status, (s) => s.gap && refetch(s.lost), { defer: true }));
 */
export function createNotifStatus(client: NotifClient): Accessor<NotifStatus> {
  if (isServer) return () => makeStatus("connecting", undefined);
  warnOutsideOwner("createNotifStatus");
  const [status, setStatus] = createSignal<NotifStatus>(
    makeStatus(client.state(), client.session()),
    { equals: false },
  );
  onCleanup(client.onStatus((next) => setStatus(next)));
  return status;
}

/** The key as an accessor that only changes when the key's id does. */
function keyAccessor<K>(def: NotifierDef<K, unknown>, key: KeySource<K>): () => K | undefined {
  if (typeof key !== "function") return () => key;
  const id = (k: K | undefined) => (k === undefined ? undefined : def.keyId(k));
  return createMemo(key as () => K | undefined, undefined, {
    equals: (a, b) => id(a) === id(b),
  });
}

let warned = false;

function warnOutsideOwner(name: string): void {
  if (warned || getOwner() !== null) return;
  warned = true;
  console.warn(
    `sse-notif: ${name} was called outside a reactive owner, so it will never unlisten. ` +
      "Call it in a component, or in createRoot and call dispose when done.",
  );
}

function logError(error: Error): void {
  console.error(error);
}
