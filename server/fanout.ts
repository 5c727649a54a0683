/**
 * Notifications through a shared bus. `notify` publishes the server
 * notification once; every node with listeners on its key, this one
 * included, delivers it when it comes back from the bus, so every node sees
 * one order per key whichever node notified. When the bus is down this
 * node's listeners get it at once, and the echo (if any) is then dropped.
 */
import type { AnyDelivery, HubCore } from "./core.js";
import { NotifError, toError } from "./errors.js";
import {
  type NotifyMessage,
  parseTopicMessage,
  type TopicMessage,
  topicChannel,
} from "./messages.js";
import type { Exclusion } from "./notifier.js";

/** How long an id of a notify delivered here is kept to drop its late echo. */
const ECHO_WINDOW_MS = 60_000;
const ECHO_WINDOW_SIZE = 10_000;
/** How long this node waits for its own notify to come back before it delivers it itself. */
const ECHO_TIMEOUT_MS = 2_000;

export class Fanout {
  // biome-ignore lint/suspicious/noExplicitAny: the fanout serves a hub of any identity
  readonly #core: HubCore<any>;
  /** This node's notifies delivered here without the bus (id → when): their echo is dropped. */
  readonly #deliveredHere = new Map<number, number>();
  /**
   * This node's notifies published, with listeners here, not yet back (id →
   * delivery, when, and the listen generation when notified: its echo goes
   * only to the listens there were then, SPEC §5.3).
   */
  readonly #awaitingEcho = new Map<
    number,
    { readonly here: () => void; readonly at: number; readonly since: number }
  >();
  #lastId = 0;

  // biome-ignore lint/suspicious/noExplicitAny: see above
  constructor(core: HubCore<any>) {
    this.#core = core;
  }

  /**
   * Sends a notification: delivered here at once on a local bus, through the
   * bus otherwise. Rejects with `unavailable` when the bus is down (delivered
   * on this node only).
   */
  async notify(
    delivery: AnyDelivery,
    topic: string,
    key: unknown,
    value: unknown,
    notfor: Exclusion,
  ) {
    const core = this.#core;
    const { bus } = core.options;
    if (bus.kind === "local") return delivery.deliver(topic, key, value, notfor);
    const id = ++this.#lastId;
    const notifier = delivery.def.name;
    const message: NotifyMessage = {
      type: "notify",
      node: core.nodeId,
      id,
      notifier,
      key,
      value,
      notfor,
    };
    const text = JSON.stringify(message); // a value that is not JSON throws here, to the caller
    await core.started;
    const since = core.registry.generation;
    const here = () =>
      this.#deliverHere(id, () => delivery.deliver(topic, key, value, notfor, since));
    const listenedHere = core.registry.listeners(topic) !== undefined;
    // Without a working bus, or a subscription the bus refused, this node delivers its own.
    if (bus.status() !== "ok" || (listenedHere && !core.interest.subscribed(topic))) here();
    else if (listenedHere) this.#awaitingEcho.set(id, { here, at: Date.now(), since });
    await this.#publish(topic, text, notifier, () => {
      if (this.#awaitingEcho.delete(id)) here(); // not if its echo came back meanwhile
    });
  }

  /** Stops every session of an identity listening to a key, here and on every other node. */
  async unlistenIdentity(notifier: string, topic: string, key: unknown, identity: string) {
    const core = this.#core;
    const message: TopicMessage = {
      type: "unlistenIdentity",
      node: core.nodeId,
      notifier,
      key,
      identity,
    };
    this.apply(message);
    if (core.options.bus.kind === "local") return;
    const text = JSON.stringify(message);
    await core.started;
    await this.#publish(topic, text, notifier, () => {});
  }

  /** Publishes on a topic's channel; on failure runs `fallback` and rejects with `unavailable`. */
  async #publish(
    topic: string,
    text: string,
    notifier: string,
    fallback: () => void,
  ): Promise<void> {
    const { bus, onError } = this.#core.options;
    try {
      await bus.publish(topicChannel(topic), text);
    } catch (error) {
      fallback();
      onError(toError(error), { during: "publish", notifier });
      throw new NotifError("unavailable", "the bus is down: delivered on this node only", {
        cause: error,
      });
    }
  }

  /**
   * Delivers here the notifies whose echo may not come: all of them when the
   * bus was lost or the hub closes, else those older than `ECHO_TIMEOUT_MS`
   * (a subscription that silently broke). A late echo is then dropped.
   */
  deliverAwaited(all = true): void {
    const deadline = Date.now() - ECHO_TIMEOUT_MS;
    for (const [id, { here, at }] of this.#awaitingEcho) {
      if (!all && at > deadline) break; // the map is in publish order
      this.#awaitingEcho.delete(id);
      here();
    }
  }

  /** A message on a topic channel: a notify (ours or another node's) or an unlistenIdentity. */
  readonly onMessage = (text: string): void => {
    const core = this.#core;
    let message: TopicMessage;
    try {
      message = parseTopicMessage(text);
    } catch (error) {
      core.options.onError(toError(error), { during: "bus message", message: text.slice(0, 200) });
      return;
    }
    if (core.closed) return;
    if (message.node === core.nodeId) {
      if (message.type !== "notify") return; // applied here when sent
      const awaited = this.#awaitingEcho.get(message.id);
      this.#awaitingEcho.delete(message.id);
      if (this.#deliveredHere.delete(message.id)) return;
      // Not awaited: nobody here listened when it was notified, so nobody here gets it.
      if (awaited) this.apply(message, awaited.since);
      return;
    }
    this.apply(message);
  };

  /**
   * Applies a topic message to this node's sessions (a notify: to the listens
   * of generation ≤ `since`, by default every listen there is now).
   */
  apply(message: TopicMessage, since?: number): void {
    const core = this.#core;
    const delivery = core.deliveries.get(message.notifier);
    if (!delivery) return;
    let topic: string;
    try {
      topic = `${message.notifier}:${delivery.def.keyId(message.key)}`;
    } catch (error) {
      core.options.onError(toError(error), {
        during: "bus message key",
        notifier: message.notifier,
      });
      return;
    }
    switch (message.type) {
      case "notify":
        delivery.deliver(topic, message.key, message.value, message.notfor, since);
        return;
      case "unlistenIdentity": {
        const sessions = core.registry.listeners(topic)?.byIdentity.get(message.identity);
        for (const session of [...(sessions ?? [])]) core.unlisten(session, [topic]);
        return;
      }
    }
  }

  #deliverHere(id: number, deliver: () => void): void {
    const now = Date.now();
    for (const [old, at] of this.#deliveredHere) {
      if (at > now - ECHO_WINDOW_MS && this.#deliveredHere.size < ECHO_WINDOW_SIZE) break;
      this.#deliveredHere.delete(old); // its echo is not coming any more
    }
    this.#deliveredHere.set(id, now);
    deliver();
  }
}
