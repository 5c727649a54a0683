/**
 * The hub's inside: its collaborators wired together (sessions.ts,
 * broadcast.ts for the bus, sequencer.ts through recovery.ts for positions,
 * interest.ts for subscriptions, remote.ts for other nodes, requests.ts),
 * the bus started and left, and the one way of doing what several of them
 * share: route a request to its session's node, listen, unlisten, close.
 * `hub.ts` wraps it in the public API and `router.ts` in HTTP.
 */
import type { Topic } from "../protocol/keys.js";
import type { SessionId } from "../protocol/wire.js";
import { Broadcast } from "./broadcast.js";
import { endGradually } from "./closing.js";
import type { AnyDelivery } from "./delivery.js";
import { guarded, NotifError, toError, unknownSession } from "./errors.js";
import type { History } from "./history.js";
import { type IdentityId, identityIdOf, type NodeId, newNodeId, nodeOf } from "./ids.js";
import { Interest } from "./interest.js";
import type { ListenAnswer } from "./join.js";
import { channelTopic, type ListenAnswers, type SessionRequest, topicChannel } from "./messages.js";
import type { ResolvedOptions } from "./options.js";
import { parsePosition } from "./positions.js";
import type { RecoveryCounts } from "./probe.js";
import { type LocalItem, makeRecovery } from "./recovery.js";
import { Registry } from "./registry.js";
import { Remote } from "./remote.js";
import { applyRequest, type Resolved } from "./requests.js";
import type { Join, Sequencer } from "./sequencer.js";
import type { Session } from "./session.js";
import { Sessions } from "./sessions.js";
import type { StreamEnd } from "./stream.js";
import type { AnyRequest, AnyResponse } from "./transport.js";

export class HubCore<Identity> {
  readonly options: ResolvedOptions<Identity>;
  readonly nodeId = newNodeId();
  readonly registry = new Registry<Session<Identity>>();
  readonly deliveries = new Map<string, AnyDelivery>();
  /** Sessions and streams here: open, resume, expire, heartbeat. */
  readonly sessions: Sessions<Identity>;
  readonly interest: Interest;
  /** Notifications through the bus (the echo, other nodes' messages). */
  readonly broadcast: Broadcast;
  /** Requests to and from other nodes; absent on a local bus. */
  readonly remote: Remote | undefined;
  /** Settles once the bus is started (faults go to onError). */
  readonly started: Promise<void>;
  /** Positions, holes and `since` (absent with `history: false`). */
  readonly sequencer: Sequencer | undefined;
  /** The in-process history, on a local bus. */
  readonly history: History<LocalItem> | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  /** `since` listens answered (for metrics). */
  readonly recoveries: RecoveryCounts = { recovered: 0, lost: 0 };
  #closing = false;
  #closed = false;

  constructor(options: ResolvedOptions<Identity>) {
    this.options = options;
    this.sessions = new Sessions({
      options,
      nodeId: this.nodeId,
      registry: this.registry,
      release: (topic) => this.#release(topic),
    });
    this.broadcast = new Broadcast(this);
    const recovery = makeRecovery({
      bus: options.bus,
      history: options.history,
      listeners: (topic) => this.registry.listeners(topic),
      deliver: (delivery, topic, entry, audience) =>
        this.broadcast.deliverEntry(delivery, topic, entry, audience),
      onError: options.onError,
      unlisten: (session, topic) => this.unlisten(session as Session<Identity>, [topic]),
    });
    this.sequencer = recovery?.sequencer;
    this.history = recovery?.local;
    const onTopic = guarded(this.broadcast.onMessage, options.onError);
    this.interest = new Interest(options.bus, topicChannel, onTopic, options.onError);
    this.remote =
      options.bus.kind === "shared"
        ? new Remote({
            nodeId: this.nodeId,
            bus: options.bus,
            timeout: options.requestTimeout,
            apply: (request) => applyRequest(this, request),
            onError: options.onError,
          })
        : undefined;
    this.started = this.#start();
    const sweepEvery = Math.max(10, Math.min(1_000, Math.floor(options.sessionTimeout / 4)));
    this.#timers.push(setInterval(() => this.#sweep(), sweepEvery).unref());
    this.#timers.push(setInterval(() => this.sessions.heartbeat(), options.heartbeat).unref());
  }

  /** `hub.close()` was called: no new request, no notify; streams end over `closeWindow`. */
  get closing(): boolean {
    return this.#closing;
  }
  /** The hub is closed: every stream ended. */
  get closed(): boolean {
    return this.#closed;
  }

  identityId(identity: Identity): IdentityId {
    try {
      return identityIdOf(identity ?? null); // an identify that returns nothing means anonymous
    } catch (error) {
      throw new NotifError("forbidden", "identify returned a value that is not JSON", {
        cause: error,
      });
    }
  }

  async #start(): Promise<void> {
    const { bus, onError } = this.options;
    try {
      const onStatus = (status: string) => {
        if (status === "degraded") {
          this.sequencer?.suspectAll();
          this.broadcast.deliverAwaited();
        } else if (status === "ok") this.sequencer?.check();
      };
      const onResubscribed = (channels: readonly string[]) => {
        const topics = channels.flatMap((channel) => channelTopic(channel) ?? []);
        this.sequencer?.check(topics);
      };
      const history = this.sequencer && bus.kind !== "local" ? this.options.history : undefined;
      await bus.start({
        nodeId: this.nodeId,
        onError,
        onStatus,
        onResubscribed,
        ...(history ? { history } : {}),
      });
      await this.remote?.start();
    } catch (error) {
      onError(toError(error), { during: "bus start" });
    }
  }

  /** Could some node hold this session? */
  reachable(session: SessionId): boolean {
    return this.registry.session(session) !== undefined || this.#remoteNode(session) !== undefined;
  }

  /** Applies a request where the session lives: here, or on its node through the bus. */
  async route(request: SessionRequest): Promise<ListenAnswers | undefined> {
    if (this.registry.session(request.session)) return applyRequest(this, request);
    const node = this.#remoteNode(request.session);
    if (node === undefined || !this.remote) {
      throw unknownSession();
    }
    await this.started;
    return this.remote.request(node, request);
  }

  #remoteNode(session: SessionId): NodeId | undefined {
    if (!this.remote) return undefined;
    const node = nodeOf(session);
    return node !== this.nodeId ? node : undefined;
  }

  /** Serves `GET /events` for a client of this identity. */
  openStream(req: AnyRequest, res: AnyResponse, identity: Identity, lastEventId: unknown): void {
    this.sessions.open(req, res, identity, this.identityId(identity), lastEventId);
  }

  /**
   * Checks the limit, then adds the listens; resolves once notifications will
   * arrive. With history, resolves to each item's position and recovery
   * (`positions`: the request asked for them; else only fresh keys are read).
   */
  async listen(
    session: Session<Identity>,
    items: readonly Resolved[],
    positions = false,
  ): Promise<ListenAnswer[] | undefined> {
    const fresh = this.#fresh(session, items);
    const sequencer = this.sequencer;
    const joins = sequencer
      ? items.map((item) => {
          const since = parsePosition(item.since);
          return sequencer.enter(session, item, since, positions, item.replay === true);
        })
      : [];
    for (const item of items) this.registry.listen(session, item.topic);
    // A refused subscription was reported by Interest; this node then delivers
    // its own notifies on that key itself (broadcast.ts), so the listen holds here.
    if (this.options.bus.kind !== "local")
      await Promise.all(items.map((item) => this.interest.want(item.topic)));
    for (const join of joins) join?.start();
    const answers = await this.#allOrNothing(session, joins, fresh);
    if (!positions || !sequencer) return undefined;
    return answers.map((answer, i) => this.#answer(answer, (items[i] as Resolved).since));
  }

  /** The keys of `items` the session does not listen to yet, within `maxKeysPerSession`. */
  #fresh(session: Session<Identity>, items: readonly Resolved[]): Set<Topic> {
    const fresh = new Set(items.map((item) => item.topic).filter((t) => !session.topics.has(t)));
    if (session.topics.size + fresh.size > this.options.maxKeysPerSession) {
      throw new NotifError(
        "too_many_keys",
        `a session may listen to at most ${this.options.maxKeysPerSession} keys; unlisten some first`,
      );
    }
    return fresh;
  }

  /**
   * All or nothing (SPEC §4): when one item's history read fails, the others' may still be
   * queued behind a retrying check; waits for them all, then takes back every key the batch added.
   */
  async #allOrNothing(
    session: Session<Identity>,
    joins: readonly (Join | undefined)[],
    fresh: ReadonlySet<Topic>,
  ): Promise<(ListenAnswer | undefined)[]> {
    const settled = await Promise.allSettled(joins.map((join) => join?.answer));
    const failed = settled.find((result) => result.status === "rejected");
    if (failed) {
      this.unlisten(session, [...fresh]);
      throw failed.reason;
    }
    return settled.map(
      (result) => (result as PromiseFulfilledResult<ListenAnswer | undefined>).value,
    );
  }

  /** An item's answer; counts the recoveries (SPEC §6: an ill-formed position recovers nothing). */
  #answer(answer: ListenAnswer | undefined, since: string | null | undefined): ListenAnswer {
    if (!answer) throw new Error("unreachable: a listen with positions read none");
    if (typeof since !== "string") return answer;
    const recovered = answer.recovered === true;
    this.recoveries[recovered ? "recovered" : "lost"] += 1;
    return recovered ? answer : { ...answer, recovered: false };
  }

  /** A key's position now (`/listen` answers for an item not listened after all). */
  async position(item: Resolved): Promise<{ pos: string }> {
    const sequencer = this.sequencer;
    if (!sequencer) throw new Error("unreachable: positions without history");
    return sequencer.position(item.topic);
  }

  unlisten(session: Session<Identity>, topics: readonly Topic[]): void {
    for (const topic of topics) {
      session.revoke(topic);
      if (this.registry.unlisten(session, topic)) this.#release(topic);
    }
  }

  /** Ends a session now: its stream, its listens, its replay buffer. */
  endSession(session: Session<Identity>, why: StreamEnd): void {
    this.sessions.end(session, why);
  }

  async close(): Promise<void> {
    if (this.#closing) return this.#closedAll;
    this.#closing = true;
    this.#closedAll = this.#close();
    return this.#closedAll;
  }

  #closedAll: Promise<void> = Promise.resolve();

  async #close(): Promise<void> {
    // Streams end one by one over closeWindow; their sessions receive until then.
    const open = [...this.registry.sessions()].filter((session) => session.stream);
    await endGradually(open, this.options.closeWindow, (session) => {
      this.broadcast.deliverAwaited();
      this.endSession(session, "closing");
    });
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.broadcast.deliverAwaited(); // acknowledged notifies: delivered before the streams end
    for (const session of [...this.registry.sessions()]) this.endSession(session, "closing");
    await this.interest.clear();
    await this.remote?.close();
    await this.options.bus.close();
  }

  #release(topic: Topic): void {
    this.sequencer?.release(topic);
    if (this.options.bus.kind !== "local") this.interest.release(topic);
  }

  #sweep(): void {
    this.broadcast.deliverAwaited(false);
    this.history?.sweep();
    this.sessions.sweep();
  }
}
