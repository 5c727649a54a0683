/** What the single-Redis and the cluster bus share: reconnection, bounded waits, errors. */
import { NotifError } from "./errors.js";

/** Reconnection: 50 ms, doubling, at most 2 s (plus jitter), forever. */
export const reconnectStrategy = (retries: number) =>
  Math.min(50 * 2 ** Math.min(retries, 6), 2_000) + Math.floor(Math.random() * 50);

/** Settles like `promise`, or rejects with a `timeout` error after `ms`. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new NotifError("timeout", `Redis did not answer ${what} within ${ms} ms`)),
      ms,
    );
  });
  promise.catch(() => {}); // a late rejection after the timeout is not unhandled
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function closedError(): NotifError {
  return new NotifError("unavailable", "the Redis bus is closed");
}

/** Tries of a command Redis Cluster answers `TRYAGAIN` (a multi-key command while its slot moves). */
const TRY_AGAIN_TRIES = 6;

/**
 * Runs `call`, again after 10, 20, 40, 80, 160 ms while Redis answers
 * `TRYAGAIN` (the keys of one slot half migrated: over once MIGRATE ends).
 * MOVED and ASK are node-redis's to follow.
 */
export async function tryingAgain<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      const again = error instanceof Error && error.message.startsWith("TRYAGAIN");
      if (!again || attempt >= TRY_AGAIN_TRIES) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 5 * 2 ** attempt));
  }
}
