/**
 * The last step of a notification: one open SSE response, its bytes to the
 * socket. Headers, writes coalesced per tick, backpressure, and the replay
 * pump that writes a backlog only as fast as the stream drains, on HTTP/1.1
 * and HTTP/2 alike (`transport.ts`). A write that throws cuts this stream
 * and is reported; it never escapes.
 */
import type { SessionId } from "../protocol/wire.js";
import { toError } from "./errors.js";
import { eventFrame, idPrefix } from "./frames.js";
import { releaseConnection } from "./release.js";
import type { Retention } from "./retention.js";
import { type AnyResponse, openSink, type Sink } from "./transport.js";

/** Why a stream ended (`failed`: a write threw). */
export type StreamEnd = "client" | "replaced" | "slow" | "evicted" | "closing" | "failed";

/** Batches the writes of many streams into one `res.write` each per tick. */
export class Flusher {
  /** A plain array, not a Set: a stream is marked once per batch (see `mark`). */
  #dirty: Stream[] = [];
  #scheduled = false;

  /** Called when a stream's batch goes from empty to not: at most once per write. */
  mark(stream: Stream): void {
    this.#dirty.push(stream);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const streams = this.#dirty;
    this.#dirty = [];
    for (const stream of streams) stream.flush();
  };
}

/** Replay writes stop filling the socket past this many bytes and wait for `drain`. */
const REPLAY_CHUNK = 64 * 1024;

/** What a stream belongs to: its session's id and replay buffer. */
export interface StreamOwner {
  readonly id: SessionId;
  readonly retention: Retention;
}

/** What every stream of a hub shares (one object per hub, not per stream). */
export interface StreamHost {
  readonly maxBufferedBytes: number;
  readonly flusher: Flusher;
  /** Counts notification events written. */
  readonly counters: { sent: number };
  /** Called once, when the response is over for any reason. */
  readonly onEnd: (stream: Stream, why: StreamEnd) => void;
  /** A write that threw (the stream is cut). */
  readonly onError: (error: Error, context: object) => void;
}

export class Stream {
  /** What ends the stream: the response, or its socket once released from node:http. */
  #res: { end(text: string): unknown; destroy(): unknown };
  /** Where batches go once the headers are out (HTTP/1.1 socket or HTTP/2 stream). */
  readonly #out: Sink;
  /** `id: <session>:`, built once. */
  readonly #idPrefix: string;
  readonly owner: StreamOwner;
  readonly #host: StreamHost;
  #pending = "";
  /** Seq of the last event written or queued. */
  #cursor: number;
  #replaying: boolean;
  #ended = false;

  /**
   * Opens the stream: sends the headers and `head` (retry and session event),
   * then replays events after `cursor` that the retention buffer still holds.
   */
  constructor(
    res: AnyResponse,
    head: string,
    cursor: number,
    owner: StreamOwner,
    host: StreamHost,
  ) {
    this.#res = res;
    this.#idPrefix = idPrefix(owner.id);
    this.owner = owner;
    this.#host = host;
    this.#cursor = cursor;
    this.#replaying = cursor < owner.retention.last;
    this.#out = openSink(res);
    this.#out.on("error", this.#gone);
    const written = this.#write(head, res);
    // Once the headers are out, an HTTP/1.1 connection is this stream's alone.
    const end = (written && releaseConnection(res)) || res;
    this.#res = end;
    end.on("close", this.#gone);
    if (end !== this.#out) end.on("error", this.#gone);
    if (written && this.#replaying) this.#pump();
  }

  /** Seq of the last event written or queued. */
  get cursor(): number {
    return this.#cursor;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Queues event `seq` (just pushed to the retention buffer) for this tick's write. */
  offer(seq: number, body: string): void {
    if (this.#ended || this.#replaying) return; // the pump will reach it
    if (seq !== this.#cursor + 1) {
      this.cut("evicted");
      return;
    }
    this.#cursor = seq;
    this.#host.counters.sent += 1;
    this.#queue(eventFrame(this.#idPrefix, seq, body));
  }

  /** Queues raw text (a heartbeat comment). */
  comment(text: string): void {
    if (this.#ended || this.#replaying) return;
    this.#queue(text);
  }

  /**
   * Writes this tick's batch, unless the bytes of earlier writes still wait
   * past `maxBufferedBytes`: then the client reads too slowly and is cut (it
   * resumes from its last event). So at most `maxBufferedBytes` plus one
   * tick's batch ever wait in memory for a stream.
   */
  flush(): void {
    if (this.#ended || this.#pending === "") return;
    if (this.#out.writableLength > this.#host.maxBufferedBytes) {
      this.cut("slow");
      return;
    }
    const text = this.#pending;
    this.#pending = "";
    this.#write(text);
  }

  /** Ends the response (the client may reconnect and resume). */
  cut(why: StreamEnd): void {
    if (this.#ended) return;
    // A hub closing writes what this tick queued (acknowledged notifies); a
    // replaced stream does not: the stream that replaced it replays them.
    const rest = why === "closing" ? this.#pending : "";
    this.#end(why);
    try {
      if (why === "slow" || why === "evicted" || why === "failed") this.#res.destroy();
      else this.#res.end(rest);
    } catch (error) {
      this.#host.onError(toError(error), { during: "stream end", session: this.owner.id });
    }
  }

  /**
   * Writes to the stream; a throw (a transport in a state it refuses writes
   * in) cuts this stream only, reported to onError. False once cut.
   */
  #write(text: string, to: { write(text: string): unknown } = this.#out): boolean {
    try {
      to.write(text);
      return true;
    } catch (error) {
      this.#host.onError(toError(error), { during: "stream write", session: this.owner.id });
      this.cut("failed");
      return false;
    }
  }

  #queue(text: string): void {
    const wasEmpty = this.#pending === "";
    this.#pending += text;
    if (wasEmpty) this.#host.flusher.mark(this);
  }

  /** Writes the backlog as the socket drains; goes live once caught up. */
  readonly #pump = (): void => {
    const { retention } = this.owner;
    while (!this.#ended && this.#cursor < retention.last) {
      const seq = this.#cursor + 1;
      const body = retention.get(seq);
      if (body === undefined) {
        this.cut("evicted"); // fell behind the buffer: the client resumes with a gap
        return;
      }
      this.#cursor = seq;
      this.#host.counters.sent += 1;
      if (!this.#write(eventFrame(this.#idPrefix, seq, body))) return;
      if (this.#out.writableLength >= REPLAY_CHUNK) {
        this.#out.once("drain", this.#pump);
        return;
      }
    }
    this.#replaying = false;
  };

  readonly #gone = (): void => this.#end("client");

  #end(why: StreamEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#pending = "";
    this.#out?.removeListener("drain", this.#pump);
    this.#host.onEnd(this, why);
  }
}
