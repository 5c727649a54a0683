/**
 * Requests between nodes: a `/listen`, `/unlisten` or `/close` that lands on
 * a node which does not hold the session travels over the bus to the node that
 * does (named by the session id), and the answer comes back. No sticky
 * sessions needed.
 */
import type { Bus } from "./bus.js";
import { guarded, NotifError, toError } from "./errors.js";
import type { NodeId } from "./ids.js";
import {
  type ListenAnswers,
  type NodeMessage,
  nodeChannel,
  parseNodeMessage,
  type SessionRequest,
} from "./messages.js";

interface Pending {
  resolve(answers: ListenAnswers | undefined): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export interface RemoteHost {
  readonly nodeId: NodeId;
  readonly bus: Bus;
  readonly timeout: number;
  /** Applies a request to a local session (throws a `NotifError`). */
  apply(request: SessionRequest): Promise<ListenAnswers | undefined>;
  onError(error: Error, context: object): void;
}

export class Remote {
  readonly #host: RemoteHost;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  #unsubscribe: (() => Promise<void>) | undefined;

  constructor(host: RemoteHost) {
    this.#host = host;
  }

  /** Subscribes to this node's channel. */
  async start(): Promise<void> {
    this.#unsubscribe = await this.#host.bus.subscribe(
      nodeChannel(this.#host.nodeId),
      guarded(this.#onMessage, this.#host.onError),
    );
  }

  /** Sends a request to the node holding the session; resolves or rejects with its answer. */
  request(node: NodeId, request: SessionRequest): Promise<ListenAnswers | undefined> {
    const id = this.#next++;
    const { bus, nodeId, timeout } = this.#host;
    return new Promise<ListenAnswers | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new NotifError(
            "timeout",
            `the node holding this session did not answer in ${timeout} ms: reconnect`,
          ),
        );
      }, timeout);
      this.#pending.set(id, { resolve, reject, timer });
      const message: NodeMessage = { type: "request", node: nodeId, id, request };
      bus.publish(nodeChannel(node), JSON.stringify(message)).catch((error) => {
        this.#settle(
          id,
          new NotifError("unavailable", "the bus is down: try again", { cause: error }),
        );
      });
    });
  }

  async close(): Promise<void> {
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id, new NotifError("unavailable", "this hub is closed"));
    }
    await this.#unsubscribe?.().catch(() => {});
  }

  readonly #onMessage = (text: string): void => {
    let message: NodeMessage;
    try {
      message = parseNodeMessage(text);
    } catch (error) {
      this.#host.onError(toError(error), { during: "bus message", message: text.slice(0, 200) });
      return;
    }
    if (message.type === "reply") {
      const error = message.error
        ? new NotifError(message.error.code, message.error.message)
        : undefined;
      this.#settle(message.id, error, message.items ? { items: message.items } : undefined);
      return;
    }
    void this.#answer(message.node, message.id, message.request);
  };

  async #answer(node: NodeId, id: number, request: SessionRequest): Promise<void> {
    let error: { code: NotifError["code"]; message: string } | undefined;
    let answers: ListenAnswers | undefined;
    try {
      answers = await this.#host.apply(request);
    } catch (thrown) {
      const known = thrown instanceof NotifError;
      if (!known) this.#host.onError(toError(thrown), { during: "remote request", op: request.op });
      error = known
        ? { code: thrown.code, message: thrown.message }
        : { code: "internal", message: "the node holding this session failed" };
    }
    const reply: NodeMessage = {
      type: "reply",
      node: this.#host.nodeId,
      id,
      ...(error ? { error } : {}),
      ...(answers ? { items: answers.items } : {}),
    };
    await this.#host.bus.publish(nodeChannel(node), JSON.stringify(reply)).catch((thrown) => {
      this.#host.onError(toError(thrown), { during: "reply", to: node });
    });
  }

  #settle(id: number, error: Error | undefined, answers?: ListenAnswers): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (error) pending.reject(error);
    else pending.resolve(answers);
  }
}
