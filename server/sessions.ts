/**
 * Sessions and their streams on this node: `GET /events` opens a stream on a
 * new session or resumes one (replay, or gap when its buffer lost events);
 * a session whose stream ended is kept `sessionTimeout`, then ended with its
 * listens. Heartbeats go to every open stream. Counts streams, events sent
 * and dropped, and why streams ended.
 */

import type { Topic } from "../protocol/keys.js";
import { formatEventId, parseEventId, type SessionStatus } from "../protocol/wire.js";
import { NotifError } from "./errors.js";
import { commentFrame, eventBody, idLine, retryFrame } from "./frames.js";
import { ANONYMOUS, type IdentityId, type NodeId, newSessionId } from "./ids.js";
import { cutCounts } from "./probe.js";
import type { Registry } from "./registry.js";
import { planResume } from "./retention.js";
import { Session } from "./session.js";
import { Flusher, Stream, type StreamEnd, type StreamHost } from "./stream.js";
import type { AnyRequest, AnyResponse } from "./transport.js";

const HEARTBEAT = commentFrame();

/** What the sessions need of their hub. */
export interface SessionsHost<Identity> {
  readonly options: {
    readonly maxBufferedBytes: number;
    readonly maxSessions: number;
    readonly maxSessionsPerIdentity: number;
    readonly sessionTimeout: number;
    readonly retention: number;
    readonly retentionBytes: number;
    readonly retry: number;
    readonly onError: (error: Error, context: object) => void;
  };
  readonly nodeId: NodeId;
  readonly registry: Registry<Session<Identity>>;
  /** A topic no session here listens to any more. */
  release(topic: Topic): void;
}

export class Sessions<Identity> {
  readonly #host: SessionsHost<Identity>;
  readonly #streamHost: StreamHost;
  readonly #detached = new Set<Session<Identity>>();
  readonly #counts = { streams: 0, sent: 0, dropped: 0 };
  /** Streams ended, by why (for metrics). */
  readonly cuts = cutCounts();

  constructor(host: SessionsHost<Identity>) {
    this.#host = host;
    this.#streamHost = {
      maxBufferedBytes: host.options.maxBufferedBytes,
      flusher: new Flusher(),
      counters: this.#counts,
      onEnd: (stream, why) => this.#streamEnded(stream.owner as Session<Identity>, stream, why),
      onError: host.options.onError,
    };
  }

  /** Open streams. */
  get streams(): number {
    return this.#counts.streams;
  }
  /** Events written to streams. */
  get sent(): number {
    return this.#counts.sent;
  }
  /** Events a session never got: evicted before a resume, or pending when it expired. */
  get dropped(): number {
    return this.#counts.dropped;
  }

  /** Serves `GET /events`: resumes the session of `lastEventId` when it can, else a new one. */
  open(
    req: AnyRequest,
    res: AnyResponse,
    identity: Identity,
    identityId: IdentityId,
    lastEventId: unknown,
  ): void {
    if (res.destroyed || req.socket?.destroyed) return; // the client left while we identified it
    const { session, status, cursor } = this.#resumeOrCreate(identity, identityId, lastEventId);
    session.stream?.cut("replaced");
    // Jittered per stream (±25%), so that the clients of a restarted node do not all come back at once.
    const retry = Math.round(this.#host.options.retry * (0.75 + Math.random() * 0.5));
    const head =
      retryFrame(retry) +
      idLine(formatEventId(session.id, cursor)) +
      eventBody("session", JSON.stringify({ session: session.id, status }));
    this.#counts.streams += 1; // counted before: a stream may end (a write failed) while it opens
    const stream = new Stream(res, head, cursor, session, this.#streamHost);
    if (stream.ended) {
      this.#detach(session); // kept for sessionTimeout, as after any cut
      return;
    }
    session.stream = stream;
    this.#detached.delete(session);
  }

  /** The session a stream continues, its status, and the seq its stream starts after. */
  #resumeOrCreate(
    identity: Identity,
    identityId: IdentityId,
    lastEventId: unknown,
  ): { session: Session<Identity>; status: SessionStatus; cursor: number } {
    const last = parseEventId(lastEventId);
    const old = last ? this.#host.registry.session(last.session) : undefined;
    if (old && last && old.identityId === identityId) {
      const plan = planResume(old.retention, last.seq);
      if (plan.type === "resumed") return { session: old, status: "resumed", cursor: last.seq };
      if (plan.type === "gap") {
        this.#counts.dropped += plan.lastEvicted - last.seq;
        return { session: old, status: "gap", cursor: plan.lastEvicted };
      }
    }
    this.#admit(identityId);
    const { nodeId, registry, options } = this.#host;
    const id = newSessionId(nodeId);
    const session = new Session(
      id,
      identity,
      identityId,
      options.retention,
      options.retentionBytes,
    );
    registry.add(session);
    return { session, status: "new", cursor: 0 };
  }

  /** Refuses a new session over `maxSessions`, or `maxSessionsPerIdentity` for a non-null identity. */
  #admit(identityId: IdentityId): void {
    const { registry, options } = this.#host;
    const { maxSessions, maxSessionsPerIdentity } = options;
    if (registry.sessionCount >= maxSessions) {
      throw new NotifError(
        "too_many_sessions",
        `this server holds its maximum of ${maxSessions} sessions: retry later`,
      );
    }
    const own = identityId === ANONYMOUS ? 0 : (registry.sessionsOf(identityId)?.size ?? 0);
    if (own >= maxSessionsPerIdentity) {
      throw new NotifError(
        "too_many_sessions",
        `this identity already has ${maxSessionsPerIdentity} sessions here: close some pages, or wait ${options.sessionTimeout} ms for abandoned ones to expire`,
      );
    }
  }

  /** Ends a session now: its stream, its listens, its replay buffer. */
  end(session: Session<Identity>, why: StreamEnd): void {
    if (session.ended) return;
    session.stream?.cut(why);
    session.ended = true;
    this.#detached.delete(session);
    for (const topic of this.#host.registry.remove(session)) this.#host.release(topic);
    session.retention.clear();
  }

  /** Ends the sessions whose stream ended more than `sessionTimeout` ago. */
  sweep(): void {
    const deadline = Date.now() - this.#host.options.sessionTimeout;
    for (const session of this.#detached) {
      if (session.detachedAt > deadline) continue;
      this.#counts.dropped += session.retention.last - session.written;
      this.end(session, "closing");
    }
  }

  heartbeat(): void {
    for (const session of this.#host.registry.sessions()) session.stream?.comment(HEARTBEAT);
  }

  #streamEnded(session: Session<Identity>, stream: Stream, why: StreamEnd): void {
    this.#counts.streams -= 1;
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
}
