/** A client session: its identity, listens, replay buffer and current stream. */
import type { SessionId } from "../client/protocol.js";
import type { Member } from "./registry.js";
import { Retention } from "./retention.js";
import type { Stream } from "./stream.js";

export class Session<Identity = unknown> implements Member {
  readonly id: SessionId;
  readonly identity: Identity;
  readonly identityId: string;
  readonly topics = new Set<string>();
  readonly retention: Retention;
  stream: Stream | undefined;
  /** When the last stream ended (ms, hub clock); meaningless while a stream is open. */
  detachedAt = 0;
  ended = false;
  /** Last seq written to a stream before it ended (for the `dropped` count). */
  written = 0;

  constructor(id: SessionId, identity: Identity, identityId: string, retention: number) {
    this.id = id;
    this.identity = identity;
    this.identityId = identityId;
    this.retention = new Retention(retention);
  }

  /** Records an event for this session and writes it if a stream is open. */
  push(body: string): void {
    if (this.ended) return;
    const seq = this.retention.push(body);
    this.stream?.offer(seq, body);
  }
}
