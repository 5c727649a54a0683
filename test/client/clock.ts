/**
 * A fake clock for client unit tests: timers run only when the test says
 * so, and `random` answers what the test chose. The only mock the client
 * tests use (SPEC: a mock only for what cannot be real).
 */
import type { Clock } from "../../client/reconnect.js";

interface Timer {
  readonly at: number;
  readonly run: () => void;
  readonly delay: number;
}

export interface FakeClock extends Clock {
  /** Delays of every timer set, in order. */
  readonly delays: number[];
  /** Timers not run nor cleared. */
  pending(): number;
  /** Runs the earliest pending timer; false when none. */
  runNext(): boolean;
  /** Moves time on by `ms`, running the timers due. */
  advance(ms: number): void;
  /** What `random()` answers from now on. */
  setRandom(value: number): void;
}

export function fakeClock(random = 0.5): FakeClock {
  let now = 0;
  let next = random;
  const timers = new Set<Timer>();
  const delays: number[] = [];
  const earliest = () => [...timers].sort((a, b) => a.at - b.at)[0];
  return {
    delays,
    setTimeout(run, ms) {
      const timer = { at: now + ms, run, delay: ms };
      timers.add(timer);
      delays.push(ms);
      return timer;
    },
    clearTimeout(handle) {
      timers.delete(handle as Timer);
    },
    random: () => next,
    setRandom(value) {
      next = value;
    },
    pending: () => timers.size,
    runNext() {
      const timer = earliest();
      if (!timer) return false;
      timers.delete(timer);
      now = Math.max(now, timer.at);
      timer.run();
      return true;
    },
    advance(ms) {
      const end = now + ms;
      for (let timer = earliest(); timer && timer.at <= end; timer = earliest()) {
        timers.delete(timer);
        now = timer.at;
        timer.run();
      }
      now = end;
    },
  };
}
