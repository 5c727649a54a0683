/**
 * A client session: its identity, listens, replay buffer and current stream.
 * `push` is where a delivered event (delivery.ts) is kept for replay
 * (retention.ts) and offered to the open stream, if any (stream.ts).
 */
import type { Topic } from "../protocol/keys.js";
import type { SessionId } from "../protocol/wire.js";
import type { IdentityId } from "./ids.js";
import type { Member } from "./registry.js";
import { Retention } from "./retention.js";
import type { Stream } from "./stream.js";

export class Session<Identity = unknown> implements Member {
  readonly id: SessionId;
  readonly identity: Identity;
  readonly identityId: IdentityId;
  readonly topics = new Map<Topic, number>();
  readonly retention: Retention;
  stream: Stream | undefined;
  /** When the last stream ended (ms, hub clock); meaningless while a stream is open. */
  detachedAt = 0;
  ended = false;
  /** Last seq written to a stream before it ended (for the `dropped` count). */
  written = 0;

  /** Listens waiting on `authorize`, and the unlistens answered meanwhile (topic → epoch). */
  #pendingListens = 0;
  #epoch = 0;
  #revoked: Map<Topic, number> | undefined;

  constructor(
    id: SessionId,
    identity: Identity,
    identityId: IdentityId,
    retention: number,
    retentionBytes?: number,
  ) {
    this.id = id;
    this.identity = identity;
    this.identityId = identityId;
    this.retention = new Retention(retention, retentionBytes);
  }

  /** A listen starts waiting on `authorize`: returns the epoch to compare with. */
  pauseRevocations(): number {
    this.#pendingListens += 1;
    return this.#epoch;
  }

  resumeRevocations(): void {
    this.#pendingListens -= 1;
    if (this.#pendingListens === 0) this.#revoked = undefined;
  }

  /** An unlisten of `topic` was answered: listens still waiting must not undo it. */
  revoke(topic: Topic): void {
    if (this.#pendingListens === 0) return;
    this.#revoked ??= new Map();
    this.#revoked.set(topic, ++this.#epoch);
  }

  /** Was `topic` unlistened after `epoch` (by a request answered while a listen waited)? */
  revokedSince(topic: Topic, epoch: number): boolean {
    return (this.#revoked?.get(topic) ?? 0) > epoch;
  }

  /** Records an event for this session and writes it if a stream is open. */
  push(body: string): void {
    if (this.ended) return;
    const seq = this.retention.push(body);
    this.stream?.offer(seq, body);
  }
}
