// What a client connection reports to its worker.
export interface Sink {
  /** A notification stamped `t` (µs, see nowMicros) arrived at `now`. */
  record(now: number, t: number): void;
  /** A ready connection closed. */
  closed(): void;
}

export interface Conn {
  close(): void;
}
