/**
 * Reconnection delays: exponential backoff with full jitter (SPEC §6), so
 * that the clients of a restarted node do not all come back in the same
 * second. Pure but for the clock, which tests replace.
 */

/** Timers and randomness, injectable so that tests need no real waiting. */
export interface Clock {
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** A number in [0, 1). */
  random(): number;
}

/** The real clock. */
export const realClock: Clock = {
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  random: () => Math.random(),
};

/** How the client waits between attempts. */
export interface BackoffOptions {
  /** First delay before jitter, in ms: the hub's `retry`. */
  readonly retry: number;
  /** Upper bound of any delay, in ms. */
  readonly maxRetry: number;
  /** Full jitter: each delay drawn uniformly in [0, bound). Off only to measure a storm. */
  readonly jitter: boolean;
}

/** Defaults of {@link BackoffOptions}: the hub's default `retry`, a 30 s cap, jitter on. */
export const BACKOFF_DEFAULTS: BackoffOptions = { retry: 2_000, maxRetry: 30_000, jitter: true };

/** Options with their defaults (an `undefined` field keeps its default); throws on a bad one. */
export function resolveBackoff(options: Partial<BackoffOptions> = {}): BackoffOptions {
  const resolved = { ...BACKOFF_DEFAULTS };
  for (const name of ["retry", "maxRetry", "jitter"] as const)
    if (options[name] !== undefined) Object.assign(resolved, { [name]: options[name] });
  checkOptions(resolved);
  return resolved;
}

/** Successive delays of one kind of attempt. */
export interface Backoff {
  /** The delay before the next attempt; each call doubles the bound, up to `maxRetry`. */
  next(): number;
  /** After a success: the next delay starts from `retry` again. */
  reset(): void;
  /** Attempts since the last reset. */
  readonly attempts: number;
}

/**
 * Makes a backoff: attempt n waits `random() × min(maxRetry, retry × 2ⁿ)`
 * (without jitter, the bound itself).
 * @example
 * const backoff = makeBackoff(BACKOFF_DEFAULTS, realClock);
 * setTimeout(reconnect, backoff.next());
 */
export function makeBackoff(options: BackoffOptions, clock: Clock): Backoff {
  checkOptions(options);
  let attempts = 0;
  return {
    next() {
      const bound = Math.min(options.maxRetry, options.retry * 2 ** Math.min(attempts, 30));
      attempts += 1;
      return options.jitter ? Math.floor(clock.random() * bound) : bound;
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}

function checkOptions({ retry, maxRetry }: BackoffOptions): void {
  if (!Number.isFinite(retry) || retry < 0)
    throw new TypeError(`sse-notif: retry must be a number of ms ≥ 0, not ${retry}`);
  if (!Number.isFinite(maxRetry) || maxRetry < retry)
    throw new TypeError(`sse-notif: maxRetry must be a number of ms ≥ retry, not ${maxRetry}`);
}
