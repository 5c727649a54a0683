// The IPC calls of the recovery benchmark (bench/recovery.ts) to its node and client processes.

export type NodeApi = {
  /** Where it listens. */
  port: { req: null; res: number };
  /** `count` notifies on each key, `key.<from>`…, one key after another per round. */
  notify: { req: { keys: string[]; from: number; count: number }; res: { ms: number } };
  /** Times (ms since epoch) of the `GET /events` and `POST /listen` it served. */
  requests: { req: null; res: { events: number[]; listens: number[] } };
  /** SIGTERM-like: hub.close() (graceful), then exit. */
  close: { req: null; res: null };
};

export interface ClientSummary {
  /** When the client had every notification up to the target after the mark. */
  readonly caughtUp: number | undefined;
  /** First notification after the mark. */
  readonly first: number | undefined;
  /** First `open` status on a new session after the mark. */
  readonly relistened: number | undefined;
  readonly recovered: boolean;
  readonly gap: boolean;
  /** Got exactly `key.0`… `key.<target-1>` in order. */
  readonly exact: boolean;
}

export type ClientsApi = {
  /** Opens `count` clients of `url`, client i on keys[i % keys.length]; resolves once all listen. */
  start: {
    req: { url: string; count: number; keys: string[]; retry: number; jitter: boolean };
    res: { ms: number };
  };
  /** From now on, times are measured from `at`. */
  mark: { req: { at: number }; res: null };
  /**
   * Waits (at most `ms`) until every client got `target` notifications on
   * its key and, with `relisten`, listens on a new session, then summarises.
   */
  collect: { req: { target: number; relisten: boolean; ms: number }; res: ClientSummary[] };
};
