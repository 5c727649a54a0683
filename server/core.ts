/**
 * The hub's state and its one way of doing each thing: open a stream, end a
 * session, listen, unlisten, deliver from the bus. `hub.ts` wraps it in the
 * public API and `router.ts` in HTTP.
 */
import { randomBytes } from "node:crypto";
import { canonicalJson } from "../protocol/keys.js";
import {
  formatEventId,
  parseEventId,
  type SessionId,
  type SessionStatus,
} from "../protocol/wire.js";
import { endGradually } from "./closing.js";
import { guarded, NotifError, toError } from "./errors.js";
import { Fanout } from "./fanout.js";
import { commentFrame, eventBody, idLine, retryFrame } from "./frames.js";
import type { History } from "./history.js";
import { Interest } from "./interest.js";
import { channelTopic, type ListenAnswers, type SessionRequest, topicChannel } from "./messages.js";
import type { AnyDelivery } from "./notifier.js";
import type { ResolvedOptions } from "./options.js";
import { parsePosition } from "./positions.js";
import { cutCounts, type RecoveryCounts } from "./probe.js";
import { type LocalItem, makeRecovery } from "./recovery.js";
import { Registry } from "./registry.js";
import type { ListenAnswer, Relay } from "./relay.js";
import { nodeOf, Remote } from "./remote.js";
import { applyRequest, type Resolved } from "./requests.js";
import { planResume } from "./retention.js";
import { Session } from "./session.js";
import { Flusher, Stream, type StreamEnd, type StreamHost } from "./stream.js";
import type { AnyRequest, AnyResponse } from "./transport.js";

const HEARTBEAT = commentFrame();

/** A new, unguessable session id: the node id, a dot, 144 random bits. */
function newSessionId(nodeId: string): SessionId {
  return `${nodeId}.${randomBytes(18).toString("base64url")}` as SessionId;
}

export class HubCore<Identity> {
  readonly options: ResolvedOptions<Identity>;
  readonly nodeId = randomBytes(6).toString("base64url");
  readonly registry = new Registry<Session<Identity>>();
  readonly deliveries = new Map<string, AnyDelivery>();
  /** Shared by every stream of this hub. */
  readonly #streamHost: StreamHost;
  readonly interest: Interest;
  /** Notifications through the bus (the echo, other nodes' messages). */
  readonly fanout: Fanout;
  /** Requests to and from other nodes; absent on a local bus. */
  readonly remote: Remote | undefined;
  /** Settles once the bus is started (faults go to onError). */
  readonly started: Promise<void>;
  /** Positions, holes and `since` (absent with `history: false`). */
  readonly relay: Relay | undefined;
  /** The in-process history, on a local bus. */
  readonly history: History<LocalItem> | undefined;
  readonly #detached = new Set<Session<Identity>>();
  readonly #timers: NodeJS.Timeout[] = [];
  streams = 0;
  sent = 0;
  dropped = 0;
  /** `gap` events told because a key's notifications were lost (SPEC §5.8). */
  gaps = 0;
  /** `hub.close()` was called: no new request, no notify; streams end over `closeWindow`. */
  closing = false;
  /** Streams ended, by why (for metrics). */
  readonly cuts = cutCounts();
  /** `since` listens answered (for metrics). */
  readonly recoveries: RecoveryCounts = { recovered: 0, lost: 0 };
  closed = false;

  constructor(options: ResolvedOptions<Identity>) {
    this.options = options;
    this.#streamHost = {
      maxBufferedBytes: options.maxBufferedBytes,
      flusher: new Flusher(),
      counters: this,
      onEnd: (stream, why) => this.#streamEnded(stream.owner as Session<Identity>, stream, why),
      onError: options.onError,
    };
    this.fanout = new Fanout(this);
    const recovery = makeRecovery({
      bus: options.bus,
      history: options.history,
      listeners: (topic) => this.registry.listeners(topic),
      deliver: (delivery, topic, entry, audience) =>
        this.fanout.deliverEntry(delivery, topic, entry, audience),
      onError: options.onError,
      lost: () => {
        this.gaps += 1;
      },
      unlisten: (session, topic) => this.unlisten(session as Session<Identity>, [topic]),
    });
    this.relay = recovery?.relay;
    this.history = recovery?.local;
    const onTopic = guarded(this.fanout.onMessage, options.onError);
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
    this.#timers.push(setInterval(() => this.#heartbeat(), options.heartbeat).unref());
  }

  identityId(identity: Identity): string {
    try {
      return canonicalJson(identity ?? null); // an identify that returns nothing means anonymous
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
          this.relay?.suspectAll();
          this.fanout.deliverAwaited();
        } else if (status === "ok") this.relay?.check();
      };
      const onResubscribed = (channels: readonly string[]) => {
        const topics = channels.flatMap((channel) => channelTopic(channel) ?? []);
        this.relay?.check(topics);
      };
      const history = this.relay && bus.kind !== "local" ? this.options.history : undefined;
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
      throw new NotifError(
        "unknown_session",
        "no such live session: open a new stream with GET /events",
      );
    }
    await this.started;
    return this.remote.request(node, request);
  }

  #remoteNode(session: SessionId): string | undefined {
    if (!this.remote) return undefined;
    const node = nodeOf(session);
    return node !== "" && node !== this.nodeId ? node : undefined;
  }

  /** Serves `GET /events` for a client of this identity. */
  openStream(req: AnyRequest, res: AnyResponse, identity: Identity, lastEventId: unknown): void {
    const identityId = this.identityId(identity);
    if (res.destroyed || req.socket?.destroyed) return; // the client left while we identified it
    const last = parseEventId(lastEventId);
    const old = last ? this.registry.session(last.session) : undefined;
    const plan =
      old && last && old.identityId === identityId
        ? planResume(old.retention, last.seq)
        : undefined;
    let session: Session<Identity>;
    let status: SessionStatus;
    let cursor: number;
    if (old && last && plan && plan.type !== "invalid") {
      session = old;
      status = plan.type;
      cursor = plan.type === "gap" ? plan.lastEvicted : last.seq;
      if (plan.type === "gap") this.dropped += plan.lastEvicted - last.seq;
    } else {
      this.#admit(identityId);
      const { retention, retentionBytes } = this.options;
      session = new Session(
        newSessionId(this.nodeId),
        identity,
        identityId,
        retention,
        retentionBytes,
      );
      this.registry.add(session);
      status = "new";
      cursor = 0;
    }
    session.stream?.cut("replaced");
    // Jittered per stream (±25%), so that the clients of a restarted node do not all come back at once.
    const retry = Math.round(this.options.retry * (0.75 + Math.random() * 0.5));
    const head =
      retryFrame(retry) +
      idLine(formatEventId(session.id, cursor)) +
      eventBody("session", JSON.stringify({ session: session.id, status }));
    this.streams += 1; // counted before: a stream may end (a write failed) while it opens
    const stream = new Stream(res, head, cursor, session, this.#streamHost);
    if (stream.ended) {
      this.#detach(session); // kept for sessionTimeout, as after any cut
      return;
    }
    session.stream = stream;
    this.#detached.delete(session);
  }

  /** Refuses a new session over `maxSessions`, or `maxSessionsPerIdentity` for a non-null identity. */
  #admit(identityId: string): void {
    const { maxSessions, maxSessionsPerIdentity } = this.options;
    if (this.registry.sessionCount >= maxSessions) {
      throw new NotifError(
        "too_many_sessions",
        `this server holds its maximum of ${maxSessions} sessions: retry later`,
      );
    }
    const own = identityId === "null" ? 0 : (this.registry.sessionsOf(identityId)?.size ?? 0);
    if (own >= maxSessionsPerIdentity) {
      throw new NotifError(
        "too_many_sessions",
        `this identity already has ${maxSessionsPerIdentity} sessions here: close some pages, or wait ${this.options.sessionTimeout} ms for abandoned ones to expire`,
      );
    }
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
    const fresh = new Set(items.map((item) => item.topic).filter((t) => !session.topics.has(t)));
    if (session.topics.size + fresh.size > this.options.maxKeysPerSession) {
      throw new NotifError(
        "too_many_keys",
        `a session may listen to at most ${this.options.maxKeysPerSession} keys; unlisten some first`,
      );
    }
    const relay = this.relay;
    const joins = relay
      ? items.map((item) => relay.enter(session, item, parsePosition(item.since), positions))
      : [];
    for (const item of items) this.registry.listen(session, item.topic);
    // A refused subscription was reported by Interest; this node then delivers
    // its own notifies on that key itself (fanout.ts), so the listen holds here.
    if (this.options.bus.kind !== "local")
      await Promise.all(items.map((item) => this.interest.want(item.topic)));
    for (const join of joins) join?.start();
    const answers = await Promise.all(joins.map((join) => join?.answer));
    if (!positions || !relay) return undefined;
    return answers.map((answer, i) => this.#answer(answer, (items[i] as Resolved).since));
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
    const relay = this.relay;
    if (!relay) throw new Error("unreachable: positions without history");
    return relay.position(item.topic);
  }

  unlisten(session: Session<Identity>, topics: readonly string[]): void {
    for (const topic of topics) {
      session.revoke(topic);
      if (this.registry.unlisten(session, topic)) this.#release(topic);
    }
  }

  /** Ends a session now: its stream, its listens, its replay buffer. */
  endSession(session: Session<Identity>, why: StreamEnd): void {
    if (session.ended) return;
    session.stream?.cut(why);
    session.ended = true;
    this.#detached.delete(session);
    for (const topic of this.registry.remove(session)) this.#release(topic);
    session.retention.clear();
  }

  async close(): Promise<void> {
    if (this.closing) return this.#closed;
    this.closing = true;
    this.#closed = this.#close();
    return this.#closed;
  }

  #closed: Promise<void> = Promise.resolve();

  async #close(): Promise<void> {
    // Streams end one by one over closeWindow; their sessions receive until then.
    const open = [...this.registry.sessions()].filter((session) => session.stream);
    await endGradually(open, this.options.closeWindow, (session) => {
      this.fanout.deliverAwaited();
      this.endSession(session, "closing");
    });
    this.closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.fanout.deliverAwaited(); // acknowledged notifies: delivered before the streams end
    for (const session of [...this.registry.sessions()]) this.endSession(session, "closing");
    await this.interest.clear();
    await this.remote?.close();
    await this.options.bus.close();
  }

  #release(topic: string): void {
    this.relay?.release(topic);
    if (this.options.bus.kind !== "local") this.interest.release(topic);
  }

  #streamEnded(session: Session<Identity>, stream: Stream, why: StreamEnd): void {
    this.streams -= 1;
    this.cuts[why] += 1;
    if (session.stream !== stream) return;
    session.stream = undefined;
    session.written = stream.cursor;
    if (why !== "closing") this.#detach(session);
  }

  #detach(session: Session<Identity>): void {
    if (session.ended) return;
    session.detachedAt = Date.now();
    this.#detached.add(session);
  }

  #sweep(): void {
    this.fanout.deliverAwaited(false);
    this.history?.sweep();
    const deadline = Date.now() - this.options.sessionTimeout;
    for (const session of this.#detached) {
      if (session.detachedAt > deadline) continue;
      this.dropped += session.retention.last - session.written;
      this.endSession(session, "closing");
    }
  }

  #heartbeat(): void {
    for (const session of this.registry.sessions()) session.stream?.comment(HEARTBEAT);
  }
}
