/** Fakes for the client's unit tests: a scripted `send` around a real `Listens`, promise probes. */
import {
  type HandOver,
  Listens,
  type RequestError,
  type SendResult,
} from "../../client/listens.js";
import { BACKOFF_DEFAULTS, makeBackoff } from "../../client/reconnect.js";
import type { ListenItem } from "../../protocol/wire.js";
import { fakeClock } from "./clock.js";

export interface Call {
  readonly path: "/listen" | "/unlisten";
  readonly session: string;
  readonly items: ListenItem[];
  answer(result: SendResult | RequestError | Error): void;
}

/**
 * A fake `send`: records every call. With `respond`, answers each call at
 * once; otherwise the test answers it.
 */
export function fakeServer(
  respond?: (call: Omit<Call, "answer">) => SendResult | Error,
  handOver?: HandOver,
) {
  const calls: Call[] = [];
  const lost: number[] = [];
  const networkErrors: Error[] = [];
  const refused: [Error, ListenItem][] = [];
  const clock = fakeClock();
  const send = (path: "/listen" | "/unlisten", session: string, items: ListenItem[]) =>
    new Promise<SendResult>((resolve, reject) => {
      const call: Call = {
        path,
        session,
        items: items.map((item) => ({ ...item })),
        answer: (result) => (result instanceof Error ? reject(result) : resolve(result)),
      };
      calls.push(call);
      if (respond) call.answer(respond(call));
    });
  const listens = new Listens({
    send,
    sessionLost: () => lost.push(1),
    error: (error, item) => (item ? refused.push([error, item]) : networkErrors.push(error)),
    backoff: makeBackoff(BACKOFF_DEFAULTS, clock),
    clock,
    handOver,
  });
  return { listens, calls, lost, networkErrors, refused, clock };
}

/** Lets every pending microtask and I/O callback run (no timers involved). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Settled state of a promise, without waiting for it. */
export function watch(promise: Promise<unknown>) {
  const state: { settled: "pending" | "resolved" | "rejected"; error?: unknown } = {
    settled: "pending",
  };
  promise.then(
    () => {
      state.settled = "resolved";
    },
    (error: unknown) => {
      state.settled = "rejected";
      state.error = error;
    },
  );
  return state;
}
