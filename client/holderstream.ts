/**
 * The stream client of the tab that holds a shared stream: its EventSource
 * tapped (tap.ts) so that the holder sees every event first and decides where
 * a stream resumes; its listens renewed on a new session when the identity
 * changed; and its end left to the session's last tab: handing the stream
 * over closes the client but not the session the next holder resumes.
 */
import type { NotifierDef } from "../protocol/contract.js";
import { PATHS } from "../protocol/wire.js";
import {
  createStreamClient,
  type EventSourceConstructor,
  type StreamClient,
  type StreamClientOptions,
} from "./client.js";
import type { HandOver } from "./handover.js";
import { beaconSpeaksForOther } from "./origin.js";
import { isIdentityError } from "./tablistens.js";
import { type Tap, type TapHost, tapEventSource } from "./tap.js";

/** What {@link HolderStream} needs from the holder. */
export interface HolderStreamHost extends TapHost {
  /** Taking a session over: streams wait for the tap's release, and this is what is taken over. */
  readonly handOver: HandOver | undefined;
  /** The holder handed the stream over: a close then leaves the session open. */
  detached(): boolean;
}

/**
 * The holder's stream client, with its tap and the fetch it was given: it
 * listens on the union of the tabs' listens.
 */
export class HolderStream {
  readonly client: StreamClient;
  readonly tap: Tap;
  readonly fetch: typeof fetch;
  /** Notifiers the stream client has a handler for. */
  readonly #named = new Set<string>();
  /** The session given up for an identity change (renewed once). */
  #renewed: string | undefined;

  /** Opens the stream client (held until the tap's release when it takes a session over). */
  constructor(options: StreamClientOptions, host: HolderStreamHost) {
    const Real =
      options.EventSource ??
      (globalThis as unknown as { EventSource: EventSourceConstructor }).EventSource;
    this.tap = tapEventSource(Real, host);
    if (host.handOver) this.tap.hold();
    const realFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.fetch = realFetch;
    this.client = createStreamClient({
      ...options,
      EventSource: this.tap.EventSource,
      pageHide: false,
      handOver: host.handOver,
      // Handing over closes this client but not the session the next holder resumes.
      fetch: (input, init) =>
        host.detached() && String(input).endsWith(PATHS.close)
          ? Promise.resolve(new Response(null, { status: 204 }))
          : realFetch(input, init),
    });
  }

  /**
   * Listens on behalf of the tabs. Refused because the session belongs to
   * another identity (a login or logout in some tab: they share cookies), it
   * starts a new session for every tab, once, and listens on it.
   */
  async listen(def: NotifierDef<unknown, unknown>, key: unknown): Promise<void> {
    this.#track(def);
    try {
      await this.client.listen(def, key);
    } catch (error) {
      if (!isIdentityError(error)) throw error;
      const session = this.client.session();
      if (this.#renewed !== session) {
        this.#renewed = session;
        this.client.reconnect();
      }
      await this.client.listen(def, key);
    }
  }

  /** The tap sees the notifier's events, and the client tracks their positions. */
  #track(def: NotifierDef<unknown, unknown>): void {
    this.tap.addName(def.name);
    if (this.#named.has(def.name)) return;
    this.#named.add(def.name);
    this.client.on(def, () => {}); // so that the stream client tracks what it gets
  }
}

/**
 * The last tab goes: ends `session` by a beacon, which outlives the page.
 * False when none was sent (then the stream client's close POSTs).
 */
export function closeByBeacon(options: StreamClientOptions, session: string | undefined): boolean {
  const url = `${options.url.replace(/\/+$/, "")}${PATHS.close}`;
  const { withCredentials = false } = options;
  const beacon =
    typeof navigator.sendBeacon === "function" && !beaconSpeaksForOther(url, withCredentials);
  if (session === undefined || !beacon) return false;
  const body = new Blob([JSON.stringify({ session })], { type: "application/json" });
  return navigator.sendBeacon(url, body);
}
