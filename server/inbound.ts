/**
 * A message coming back on a topic channel, the inbound side of the broadcast
 * (broadcast.ts): parsed strictly (a malformed one is reported, never
 * applied); a notify with a position goes on to the sequencer, in position
 * order; one of this node's own is its echo (echoes.ts), applied only if it
 * was awaited and not delivered here already; an `unlistenIdentity` stops
 * that identity's sessions on the key.
 */
import { type Topic, topicOf } from "../protocol/keys.js";
import type { AnyDelivery } from "./delivery.js";
import type { Echoes } from "./echoes.js";
import { toError } from "./errors.js";
import type { NodeId } from "./ids.js";
import { type NotifyMessage, parseTopicMessage, type TopicMessage } from "./messages.js";
import { parsePosition } from "./positions.js";
import type { Registry } from "./registry.js";
import type { Sequencer } from "./sequencer.js";
import type { Session } from "./session.js";

/** What the inbound side needs of the hub (the hub itself, narrowed). */
export interface InboundHost {
  readonly options: { readonly onError: (error: Error, context: object) => void };
  readonly nodeId: NodeId;
  readonly closed: boolean;
  readonly sequencer: Sequencer | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: the broadcast serves a hub of any identity
  readonly registry: Registry<Session<any>>;
  readonly deliveries: ReadonlyMap<string, AnyDelivery>;
  // biome-ignore lint/suspicious/noExplicitAny: see above
  unlisten(session: Session<any>, topics: readonly Topic[]): void;
}

/** Topic messages taken from the bus and applied to this node's sessions. */
export class Inbound {
  readonly #core: InboundHost;
  /** This node's notifies awaiting their echo (shared with the outbound side). */
  readonly #echoes: Echoes;

  constructor(core: InboundHost, echoes: Echoes) {
    this.#core = core;
    this.#echoes = echoes;
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
    if (message.type === "notify" && message.pos !== undefined && core.sequencer) {
      this.#positioned(message);
      return;
    }
    if (message.node === core.nodeId) {
      if (message.type !== "notify") return; // applied here when sent
      const awaited = this.#echoes.take(message.id);
      if (this.#echoes.deliveredHere(message.id)) return;
      // Not awaited: nobody here listened when it was notified, so nobody here gets it.
      if (awaited) this.apply(message, awaited.since);
      return;
    }
    this.apply(message);
  };

  /** A notify with its position: to the sequencer, in position order. */
  #positioned(message: NotifyMessage): void {
    const core = this.#core;
    const pos = parsePosition(message.pos);
    const topic = pos && this.#topic(message);
    if (!pos) {
      const error = new TypeError(`bus message with a bad pos ${JSON.stringify(message.pos)}`);
      core.options.onError(error, { during: "bus message", notifier: message.notifier });
      return;
    }
    if (message.node === core.nodeId) this.#echoes.take(message.id);
    if (topic !== undefined) core.sequencer?.receive(topic, { pos, message });
  }

  /** The topic of a bus message, or `undefined` (reported) when it has none here. */
  #topic(message: TopicMessage): Topic | undefined {
    const core = this.#core;
    const delivery = core.deliveries.get(message.notifier);
    if (!delivery) return undefined;
    try {
      return topicOf(message.notifier, delivery.def.keyId(message.key));
    } catch (error) {
      core.options.onError(toError(error), {
        during: "bus message key",
        notifier: message.notifier,
      });
      return undefined;
    }
  }

  /**
   * Applies a topic message to this node's sessions (a notify: to the listens
   * of generation ≤ `since`, by default every listen there is now).
   */
  apply(message: TopicMessage, since?: number): void {
    const core = this.#core;
    const delivery = core.deliveries.get(message.notifier);
    const topic = this.#topic(message);
    if (!delivery || topic === undefined) return;
    switch (message.type) {
      case "notify":
        delivery.deliver(topic, message.key, message.value, message.notfor, { since });
        return;
      case "unlistenIdentity": {
        const sessions = core.registry.listeners(topic)?.byIdentity.get(message.identity);
        for (const session of [...(sessions ?? [])]) core.unlisten(session, [topic]);
        return;
      }
    }
  }
}
