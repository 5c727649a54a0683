import { canonicalJson } from "./keys.js";

/** What a notifier name must look like: it becomes an SSE `event:` field. */
export const NOTIFIER_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * Event names a notifier may not take: the protocol's `session` event, and
 * the events EventSource itself dispatches (`error` and `open`) or gives to
 * `onmessage` (`message`): a notifier of one of them would look like a
 * connection fault or a session change to every client.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(["session", "error", "open", "message"]);

/**
 * A notifier's shared, typed definition: its name and key equality. Define it
 * once in a module that server and client code both import; `Key` and
 * `ClientNotif` then type `notify`, `listen`, `on` and the Solid signals.
 */
export interface NotifierDef<Key, ClientNotif> {
  /** The notifier's name, also the SSE event name. */
  readonly name: string;
  /** The string that decides key equality (default: canonical JSON). */
  keyId(key: Key): string;
  /** Type-only marker; never set at run time. */
  readonly __types?: { readonly key: Key; readonly notif: ClientNotif };
}

/** Options of {@link defineNotifier}. */
export interface NotifierDefOptions<Key> {
  /**
   * Key equality, used by server and client alike: two keys are the same when
   * their ids are equal.
   * @default canonical JSON of the key (object keys sorted)
   */
  keyId?: (key: Key) => string;
}

/**
 * Defines a notifier: a named kind of data whose pieces are told apart by keys.
 *
 * @param name `/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/` and not `session`, `error`,
 *   `open` or `message` (events EventSource or the protocol uses), else it throws at once.
 * @example
 * export const chat = defineNotifier<{ room: string }, { from: string; text: string }>("chat");
 */
export function defineNotifier<Key = unknown, ClientNotif = unknown>(
  name: string,
  options: NotifierDefOptions<Key> = {},
): NotifierDef<Key, ClientNotif> {
  if (typeof name !== "string" || !NOTIFIER_NAME.test(name)) {
    throw new TypeError(
      `sse-notif: notifier name ${JSON.stringify(name)} is invalid: use 1 to 64 characters, ` +
        "a letter first, then letters, digits, '_', '.' or '-'",
    );
  }
  if (RESERVED_NAMES.has(name)) {
    throw new TypeError(
      `sse-notif: the notifier name "${name}" is reserved: EventSource or the protocol uses ` +
        'the events "session", "error", "open" and "message"',
    );
  }
  const custom = options.keyId;
  if (custom !== undefined && typeof custom !== "function") {
    throw new TypeError("sse-notif: defineNotifier's keyId option must be a function");
  }
  const keyId = custom
    ? (key: Key) => {
        const id = custom(key);
        if (typeof id !== "string") {
          throw new TypeError(`sse-notif: keyId of notifier "${name}" returned a non-string`);
        }
        return id;
      }
    : (key: Key) => canonicalJson(key);
  return Object.freeze({ name, keyId });
}

/** The key type of a notifier definition. */
export type KeyOf<D> = D extends NotifierDef<infer K, unknown> ? K : never;
/** The client notification type of a notifier definition. */
export type NotifOf<D> = D extends NotifierDef<unknown, infer N> ? N : never;
