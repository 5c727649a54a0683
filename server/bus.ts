/**
 * The bus carries server notifications (and, for a shared bus, requests
 * between nodes) from one hub to the others. It moves opaque strings on named
 * channels; the hub puts its node id in every message and drops its own echo.
 */

/** How a bus is doing, as `hub.stats().bus` shows it. */
export type BusStatus = "local" | "ok" | "degraded";

import { History, type HistoryLimits } from "./history.js";
import { formatPosition, type Position, withPosition } from "./positions.js";

/** A key's history as a bus reads it: its epoch, its top offset, the entries asked for. */
export interface BusHistoryRead {
  readonly epoch: string;
  readonly top: number;
  /** Oldest first, consecutive offsets; each `message` as it was given to `append`. */
  readonly entries: readonly { readonly offset: number; readonly message: string }[];
}

/** What a hub gives its bus when it starts it. */
export interface BusContext {
  /** The hub's node id (also the prefix of its session ids). */
  readonly nodeId: string;
  /** Transport faults: reported, never thrown. */
  onError(error: Error, context: object): void;
  /** Called whenever the status changes. */
  onStatus(status: BusStatus): void;
  /** The history bounds when the hub keeps history (SPEC §6); absent when it keeps none. */
  readonly history?: HistoryLimits;
  /**
   * These subscribed channels lapsed and are subscribed again (a reconnection,
   * a slot that moved, a failover): messages published on them meanwhile may
   * not have arrived. Called once the subscriptions are in effect again.
   */
  onResubscribed?(channels: string[]): void;
}

/**
 * A transport between hubs. `subscribe` resolves once messages published
 * afterwards on that channel (from any node) reach `onMessage`; the function
 * it resolves to unsubscribes. A bus that shares nothing is `kind: "local"`.
 */
export interface Bus {
  readonly kind: "local" | "shared";
  /** Connects; called once by the hub. Must not throw on a transport fault: report it. */
  start(context: BusContext): Promise<void>;
  /** Current status: `"local"` for a local bus, else `"ok"` or `"degraded"`. */
  status(): BusStatus;
  /** Publishes `message` on `channel`; rejects when the message could not be handed over. */
  publish(channel: string, message: string): Promise<void>;
  /** Subscribes to `channel` (one handler per channel per bus). */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  /** Leaves the bus: unsubscribes everything and closes connections. */
  close(): Promise<void>;
  /**
   * History (optional: a bus without it gives no positions). Appends `message`
   * (the text of a JSON object) to `channel`'s history and publishes it on
   * `channel` with its position added as the first field, `"pos"`, in one
   * step, so that every node sees one order and one position per message.
   * Resolves to the position; rejects like `publish`.
   */
  append?(channel: string, message: string): Promise<Position>;
  /**
   * Reads `channel`'s history: its epoch and top offset (a key without
   * history gets a new epoch, top 0), and the entries after `after` when
   * `after` is of the current epoch; every entry kept when it is of another;
   * none without `after` (that is a key's position).
   */
  read?(channel: string, after?: Position): Promise<BusHistoryRead>;
}

/** Does this bus keep history (both history operations)? */
export function hasHistory(bus: Bus): bus is Bus & Required<Pick<Bus, "append" | "read">> {
  return typeof bus.append === "function" && typeof bus.read === "function";
}

/**
 * Connects in-process buses: hubs whose buses share one broker see each
 * other's notifications, as nodes on Redis do. Useful for tests and for
 * several hubs in one process.
 */
export class InProcessBroker {
  readonly #channels = new Map<string, Set<(message: string) => void>>();
  #history: History<string> | undefined;

  /** The broker's history, made with the bounds of the first hub that asks. */
  history(limits: HistoryLimits): History<string> {
    this.#history ??= new History<string>(limits);
    return this.#history;
  }

  /** Delivers `message` to every handler of `channel`, asynchronously and in order. */
  publish(channel: string, message: string): void {
    const handlers = this.#channels.get(channel);
    if (!handlers) return;
    for (const handler of [...handlers]) queueMicrotask(() => handler(message));
  }

  /** Adds a handler; returns the function that removes it. */
  subscribe(channel: string, handler: (message: string) => void): () => void {
    let handlers = this.#channels.get(channel);
    if (!handlers) {
      handlers = new Set();
      this.#channels.set(channel, handlers);
    }
    handlers.add(handler);
    return () => {
      handlers.delete(handler);
      if (handlers.size === 0 && this.#channels.get(channel) === handlers)
        this.#channels.delete(channel);
    };
  }

  /** Number of channels with at least one handler (for tests). */
  get channels(): number {
    return this.#channels.size;
  }
}

/**
 * The in-process bus. Without a broker it is private to one hub (the default:
 * one server, status `"local"`); with a shared {@link InProcessBroker} it links
 * the hubs of one process (status `"ok"`).
 *
 * @example createHub({ bus: inProcessBus(broker) })
 */
export function inProcessBus(broker?: InProcessBroker): Bus {
  const shared = broker !== undefined;
  const state: BusState = { closed: false, history: undefined, subscriptions: new Set() };
  return {
    kind: shared ? "shared" : "local",
    async start(context) {
      if (context.history)
        state.history = broker ? broker.history(context.history) : new History(context.history);
    },
    status: () => (shared ? "ok" : "local"),
    async publish(channel, message) {
      open(state);
      broker?.publish(channel, message);
    },
    async append(channel, message) {
      const position = kept(state).append(channel, message, message.length);
      broker?.publish(channel, withPosition(message, formatPosition(position)));
      return position;
    },
    async read(channel, after) {
      const { epoch, top, entries } = kept(state).read(channel, after);
      return {
        epoch,
        top,
        entries: entries.map(({ offset, item }) => ({ offset, message: item })),
      };
    },
    subscribe: async (channel, onMessage) => subscribe(state, broker, channel, onMessage),
    async close() {
      state.closed = true;
      for (const remove of state.subscriptions) remove();
      state.subscriptions.clear();
    },
  };
}

/** What one in-process bus holds. */
interface BusState {
  closed: boolean;
  history: History<string> | undefined;
  /** The removers of its subscriptions. */
  readonly subscriptions: Set<() => void>;
}

function open(state: BusState): void {
  if (state.closed) throw new Error("sse-notif: the bus is closed");
}

function kept(state: BusState): History<string> {
  open(state);
  if (!state.history) throw new Error("sse-notif: this bus was started without history");
  return state.history;
}

function subscribe(
  state: BusState,
  broker: InProcessBroker | undefined,
  channel: string,
  onMessage: (message: string) => void,
): () => Promise<void> {
  open(state);
  // a fresh function per subscription, so that a stale unsubscribe removes only its own
  const handler = (message: string) => onMessage(message);
  const remove = broker ? broker.subscribe(channel, handler) : () => {};
  state.subscriptions.add(remove);
  return async () => {
    state.subscriptions.delete(remove);
    remove();
  };
}
