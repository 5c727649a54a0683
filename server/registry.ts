/**
 * Who listens to what: sessions ↔ topics ↔ identities. Pure and O(1) per
 * listen, unlisten and lookup; a notify walks only the listeners of its topic.
 * A topic is one `(notifier, key)`: `topicOf(name, keyId)` (protocol/keys.ts).
 */
import type { Topic } from "../protocol/keys.js";
import type { SessionId } from "../protocol/wire.js";
import type { IdentityId } from "./ids.js";

/** What the registry needs of a session. */
export interface Member {
  readonly id: SessionId;
  /** Canonical JSON of the session's identity. */
  readonly identityId: IdentityId;
  /**
   * Topics this session listens to, each with the listen's generation (owned
   * by the registry): a notify delivered later goes only to listens older
   * than the notify (SPEC §5.3).
   */
  readonly topics: Map<Topic, number>;
}

/** The listeners of one topic, also grouped by identity (for `prepare`). */
export interface TopicListeners<S extends Member> {
  /** The topic, held once here and shared by every listening session's `topics`. */
  readonly topic: Topic;
  readonly sessions: Set<S>;
  readonly byIdentity: Map<IdentityId, Set<S>>;
}

export class Registry<S extends Member> {
  readonly #sessions = new Map<SessionId, S>();
  readonly #topics = new Map<Topic, TopicListeners<S>>();
  readonly #identities = new Map<IdentityId, Set<S>>();
  #listens = 0;
  #generation = 0;

  /**
   * Generation of the latest listen: a notify taken at generation `g` is for
   * the listens of generation ≤ `g` that still hold when it is delivered.
   */
  get generation(): number {
    return this.#generation;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }
  get topicCount(): number {
    return this.#topics.size;
  }
  get listenCount(): number {
    return this.#listens;
  }

  session(id: SessionId): S | undefined {
    return this.#sessions.get(id);
  }

  sessions(): IterableIterator<S> {
    return this.#sessions.values();
  }

  /** Sessions of an identity (by canonical JSON). */
  sessionsOf(identityId: IdentityId): ReadonlySet<S> | undefined {
    return this.#identities.get(identityId);
  }

  listeners(topic: Topic): TopicListeners<S> | undefined {
    return this.#topics.get(topic);
  }

  add(session: S): void {
    if (this.#sessions.has(session.id))
      throw new Error(`session ${session.id} is already registered`);
    this.#sessions.set(session.id, session);
    const same = this.#identities.get(session.identityId);
    if (same) same.add(session);
    else this.#identities.set(session.identityId, new Set([session]));
  }

  /** Removes a session and all its listens; returns the topics left without listener. */
  remove(session: S): Topic[] {
    if (this.#sessions.get(session.id) !== session) return [];
    const emptied: Topic[] = [];
    for (const topic of [...session.topics.keys()]) {
      if (this.unlisten(session, topic)) emptied.push(topic);
    }
    this.#sessions.delete(session.id);
    const same = this.#identities.get(session.identityId);
    same?.delete(session);
    if (same?.size === 0) this.#identities.delete(session.identityId);
    return emptied;
  }

  /** Adds a listen; returns whether the topic had no listener before. Idempotent. */
  listen(session: S, topic: Topic): boolean {
    if (session.topics.has(topic)) return false;
    let entry = this.#topics.get(topic);
    const created = entry === undefined;
    if (!entry) {
      entry = { topic, sessions: new Set(), byIdentity: new Map() };
      this.#topics.set(topic, entry);
    }
    entry.sessions.add(session);
    const group = entry.byIdentity.get(session.identityId);
    if (group) group.add(session);
    else entry.byIdentity.set(session.identityId, new Set([session]));
    // One topic string per topic, whatever the number of sessions.
    session.topics.set(entry.topic, ++this.#generation);
    this.#listens += 1;
    return created;
  }

  /** Removes a listen; returns whether the topic is now without listener. Idempotent. */
  unlisten(session: S, topic: Topic): boolean {
    if (!session.topics.delete(topic)) return false;
    this.#listens -= 1;
    const entry = this.#topics.get(topic);
    if (!entry) return false;
    entry.sessions.delete(session);
    const group = entry.byIdentity.get(session.identityId);
    group?.delete(session);
    if (group?.size === 0) entry.byIdentity.delete(session.identityId);
    if (entry.sessions.size > 0) return false;
    this.#topics.delete(topic);
    return true;
  }
}
