/**
 * One open SSE response: headers, writes coalesced per tick, backpressure,
 * and the replay pump that writes a backlog only as fast as the socket drains.
 */
import type { ServerResponse } from "node:http";
import type { SessionId } from "../client/protocol.js";
import { idPrefix } from "./frames.js";
import { releaseConnection } from "./release.js";
import type { Retention } from "./retention.js";

/** Why a stream ended. */
export type StreamEnd = "client" | "replaced" | "slow" | "evicted" | "closing";

/** Batches the writes of many streams into one `res.write` each per tick. */
export class Flusher {
  readonly #dirty = new Set<Stream>();
  #scheduled = false;

  mark(stream: Stream): void {
    this.#dirty.add(stream);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const streams = [...this.#dirty];
    this.#dirty.clear();
    for (const stream of streams) stream.flush();
  };
}

/** Replay writes stop filling the socket past this many bytes and wait for `drain`. */
const REPLAY_CHUNK = 64 * 1024;

const HEADERS = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache, no-transform",
  "X-Accel-Buffering": "no",
  // The body ends with the connection (no chunked encoding, see below).
  Connection: "close",
} as const;

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
}

export class Stream {
  /** What ends the stream: the socket once released from node:http, else the response. */
  readonly #res: { end(text: string): unknown; destroy(): unknown };
  /**
   * Where batches go once the headers are out: the socket itself. With no
   * chunk framing the bytes are the same as through `res.write`, without its
   * per-write cork and bookkeeping.
   */
  readonly #out: {
    write(text: string): boolean;
    readonly writableLength: number;
  } & NodeJS.EventEmitter;
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
    res: ServerResponse,
    head: string,
    cursor: number,
    owner: StreamOwner,
    host: StreamHost,
  ) {
    this.#out = res.socket ?? res;
    this.#idPrefix = idPrefix(owner.id);
    this.owner = owner;
    this.#host = host;
    this.#cursor = cursor;
    this.#replaying = cursor < owner.retention.last;
    // No chunked encoding: the stream ends with its connection anyway, and
    // without chunk framing each batch is one plain socket write.
    res.removeHeader("Transfer-Encoding");
    res.writeHead(200, HEADERS);
    res.socket?.setNoDelay(true);
    res.write(head);
    const end = releaseConnection(res) ?? res;
    this.#res = end;
    end.on("close", this.#gone);
    end.on("error", this.#gone);
    if (this.#replaying) this.#pump();
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
    this.#queue(`${this.#idPrefix}${seq}\n${body}`);
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
    this.#out.write(text);
  }

  /** Ends the response (the client may reconnect and resume). */
  cut(why: StreamEnd): void {
    if (this.#ended) return;
    // A hub closing writes what this tick queued (acknowledged notifies); a
    // replaced stream does not: the stream that replaced it replays them.
    const rest = why === "closing" ? this.#pending : "";
    this.#end(why);
    if (why === "slow" || why === "evicted") this.#res.destroy();
    else this.#res.end(rest);
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
      this.#out.write(`${this.#idPrefix}${seq}\n${body}`);
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
    this.#host.onEnd(this, why);
  }
}
