/**
 * Graceful shutdown (issue 10): a closing hub ends its open streams one by
 * one, evenly over a window, in random order, so that their clients
 * reconnect to the other nodes gradually rather than all in one second.
 */

/**
 * Calls `end` for each of `open`, the first at once and the last at about
 * `window` ms; resolves after the last. With a window of 0, or fewer than two,
 * it resolves at once (the caller ends the rest).
 */
export async function endGradually<T>(
  open: readonly T[],
  window: number,
  end: (item: T) => void,
): Promise<void> {
  if (window === 0 || open.length < 2) return;
  const order = [...open];
  for (let i = order.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j] as T, order[i] as T];
  }
  const step = window / order.length;
  const start = Date.now();
  for (const [i, item] of order.entries()) {
    const wait = start + i * step - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    end(item);
  }
}
