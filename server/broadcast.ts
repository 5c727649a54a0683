/**
 * A notification over the bus, after `notify` (notifier.ts): published once
 * on its topic's channel; every node with listeners on its key, this one
 * included, takes it as it comes back (`onMessage`, inbound.ts), so that
 * every node sees one order per key whichever node notified. With history it
 * goes on in position order (sequencer.ts), without it straight to the
 * delivery (delivery.ts). While the bus is down this node's listeners get it
 * at once, and its echo is then dropped (echoes.ts). `unlistenIdentity`
 * travels the same way.
 */
import type { Topic } from "../protocol/keys.js";
import type { Bus } from "./bus.js";
import type { AnyDelivery, Audience } from "./delivery.js";
import { Echoes } from "./echoes.js";
import { NotifError, toError } from "./errors.js";
import type { History } from "./history.js";
import type { IdentityId } from "./ids.js";
import { Inbound, type InboundHost } from "./inbound.js";
import type { Interest } from "./interest.js";
import { type Exclusion, type NotifyMessage, type TopicMessage, topicChannel } from "./messages.js";
import { formatPosition } from "./positions.js";
import type { LocalItem } from "./recovery.js";
import type { PositionedNotify } from "./track.js";

/** What the broadcast needs of the hub (the hub itself, narrowed). */
export interface BroadcastHost extends InboundHost {
  readonly options: {
    readonly bus: Bus;
    readonly onError: (error: Error, context: object) => void;
  };
  /** Settles once the bus is started. */
  readonly started: Promise<void>;
  readonly history: History<LocalItem> | undefined;
  readonly interest: Interest;
}

export class Broadcast {
  readonly #core: BroadcastHost;
  readonly #echoes = new Echoes();
  readonly #inbound: Inbound;
  #lastId = 0;
  /** A message on a topic channel (inbound.ts). */
  readonly onMessage: (text: string) => void;

  constructor(core: BroadcastHost) {
    this.#core = core;
    this.#inbound = new Inbound(core, this.#echoes);
    this.onMessage = this.#inbound.onMessage;
  }

  /**
   * Sends a notification: delivered here at once on a local bus, through the
   * bus otherwise. Rejects with `unavailable` when the bus is down (delivered
   * on this node only).
   */
  async notify(
    delivery: AnyDelivery,
    topic: Topic,
    key: unknown,
    value: unknown,
    notfor: Exclusion,
  ) {
    const core = this.#core;
    const { bus } = core.options;
    if (core.history) return this.#notifyLocal(delivery, topic, key, value, notfor);
    if (bus.kind === "local") return delivery.deliver(topic, key, value, notfor);
    const id = ++this.#lastId;
    const notifier = delivery.def.name;
    const message = this.#message(id, notifier, key, value, notfor);
    const text = JSON.stringify(message); // a value that is not JSON throws here, to the caller
    await core.started;
    if (core.sequencer) return this.#notifyShared(delivery, topic, message, text);
    const since = core.registry.generation;
    const deliver = () => delivery.deliver(topic, key, value, notfor, { since });
    const here = () => this.#echoes.deliverHere(id, deliver);
    const listenedHere = core.registry.listeners(topic) !== undefined;
    // Without a working bus, or a subscription the bus refused, this node delivers its own.
    if (bus.status() !== "ok" || (listenedHere && !core.interest.subscribed(topic))) here();
    else if (listenedHere) this.#echoes.await(id, { here, at: Date.now(), since });
    await this.#publish(topic, text, notifier, () => {
      if (this.#echoes.take(id)) here(); // not if its echo came back meanwhile
    });
  }

  /** A notify message from this node. */
  #message(
    id: number,
    notifier: string,
    key: unknown,
    value: unknown,
    notfor: Exclusion,
  ): NotifyMessage {
    return { type: "notify", node: this.#core.nodeId, id, notifier, key, value, notfor };
  }

  /** In-process history: appended, then delivered here in position order. */
  #notifyLocal(
    delivery: AnyDelivery,
    topic: Topic,
    key: unknown,
    value: unknown,
    notfor: Exclusion,
  ): void {
    const core = this.#core;
    const valueJson = JSON.stringify(value); // a value that is not JSON throws here, to the caller
    const message = this.#message(0, delivery.def.name, key, value, notfor);
    const bytes = valueJson.length + topic.length + 64;
    const pos = core.history?.append(topicChannel(topic), { message, valueJson }, bytes);
    if (pos) core.sequencer?.receive(topic, { pos, message, valueJson });
  }

  /**
   * A shared bus with history: the bus appends and publishes in one step;
   * this node delivers its own notify when it comes back with its position
   * (or, if it does not come back, from the position the append gave).
   */
  async #notifyShared(
    delivery: AnyDelivery,
    topic: Topic,
    message: NotifyMessage,
    text: string,
  ): Promise<void> {
    const core = this.#core;
    const { bus, onError } = core.options;
    const { id } = message;
    const sequencer = core.sequencer as NonNullable<typeof core.sequencer>;
    const listenedHere = core.registry.listeners(topic) !== undefined;
    let known: PositionedNotify | undefined;
    const raw = () => delivery.deliver(topic, message.key, message.value, message.notfor);
    // Without position it is in no history: delivered here once, its echo (if any) dropped.
    const here = () =>
      known ? sequencer.receive(topic, known) : this.#echoes.deliverHere(id, raw);
    // Delivered here once appended (in position order, after what this node missed), or at
    // once without position if the append fails: the echo may not come while the bus is down.
    const down = bus.status() !== "ok";
    const awaiting = { here, at: Date.now(), appended: false };
    if (listenedHere) this.#echoes.await(id, awaiting);
    let pos: Awaited<ReturnType<NonNullable<typeof bus.append>>>;
    try {
      pos = await (bus.append as NonNullable<typeof bus.append>)(topicChannel(topic), text);
    } catch (error) {
      if (this.#echoes.take(id)) here();
      onError(toError(error), { during: "publish", notifier: message.notifier });
      throw busDown(error);
    }
    known = { pos, message: { ...message, pos: formatPosition(pos) } };
    awaiting.appended = true;
    // The bus was down, or refused the subscription: no echo may come; deliver in position order now.
    const noEcho = down || bus.status() !== "ok" || !core.interest.subscribed(topic);
    if (listenedHere && noEcho && this.#echoes.take(id)) here();
  }

  /**
   * Hands a notification from the sequencer to its notifier. Not twice: one this
   * node delivered without position (bus down) is not delivered again.
   */
  deliverEntry(
    delivery: AnyDelivery,
    topic: Topic,
    entry: PositionedNotify,
    audience: Audience,
  ): void {
    const { message } = entry;
    if (!audience.only && message.node === this.#core.nodeId) {
      this.#echoes.take(message.id);
      if (this.#echoes.deliveredHere(message.id)) return;
    }
    const { valueJson } = entry;
    const given = valueJson === undefined ? audience : { ...audience, valueJson };
    delivery.deliver(topic, message.key, message.value, message.notfor, given);
  }

  /** Stops every session of an identity listening to a key, here and on every other node. */
  async unlistenIdentity(notifier: string, topic: Topic, key: unknown, identity: IdentityId) {
    const core = this.#core;
    const message: TopicMessage = {
      type: "unlistenIdentity",
      node: core.nodeId,
      notifier,
      key,
      identity,
    };
    this.#inbound.apply(message);
    if (core.options.bus.kind === "local") return;
    const text = JSON.stringify(message);
    await core.started;
    await this.#publish(topic, text, notifier, () => {});
  }

  /** Publishes on a topic's channel; on failure runs `fallback` and rejects with `unavailable`. */
  async #publish(
    topic: Topic,
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
      throw busDown(error);
    }
  }

  /** Delivers here the notifies whose echo may not come (see `Echoes.deliverAwaited`). */
  deliverAwaited(all = true): void {
    this.#echoes.deliverAwaited(all);
  }
}

/** A notify's rejection when the bus did not take it. */
function busDown(cause: unknown): NotifError {
  return new NotifError("unavailable", "the bus is down: delivered on this node only", { cause });
}
