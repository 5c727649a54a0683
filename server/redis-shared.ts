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
