/**
 * The model tests' operations: plain data, so that any sequence (and any
 * shrunk one) prints as a literal and runs again as a regression test; and
 * their fast-check arbitraries. Clients and nodes are named by index, modulo
 * what exists when the operation runs.
 */
import fc from "fast-check";
import { IDENTITIES, type Identity, KEYS, NOTIFIERS, type NotifierName } from "./model.js";

export type As = "self" | "ann" | "bob" | "anon";
export type NotForKind = "none" | "session" | "identity" | "req";
export type BadId =
  | { readonly type: "garbage"; readonly text: string }
  | { readonly type: "foreign"; readonly client: number }
  | { readonly type: "future"; readonly client: number; readonly ahead: number }
  | { readonly type: "dead"; readonly pick: number };

export type Op =
  | { readonly op: "open"; readonly identity: Identity; readonly node: number }
  | {
      readonly op: "openBad";
      readonly identity: Identity;
      readonly node: number;
      readonly id: BadId;
      readonly query: boolean;
    }
  | {
      readonly op: "listen" | "unlisten";
      readonly client: number;
      readonly items: readonly (readonly [NotifierName, number])[];
      readonly via: number;
      readonly as: As;
    }
  | {
      readonly op: "notify";
      readonly node: number;
      readonly notifier: NotifierName;
      readonly key: number;
      readonly notfor: NotForKind;
      readonly target: number;
      /** Do not wait for streams to catch up afterwards (a drop may follow with writes in flight). */
      readonly lazy: boolean;
      /** Notify a key someone listens to (the `key`th of them), if any, rather than `notifier`/`key`. */
      readonly hot: boolean;
    }
  | {
      readonly op: "serverListen" | "serverUnlisten";
      readonly client: number;
      readonly notifier: NotifierName;
      readonly key: number;
      readonly node: number;
    }
  | {
      readonly op: "unlistenIdentity";
      readonly identity: Identity;
      readonly notifier: NotifierName;
      readonly key: number;
      readonly node: number;
    }
  | { readonly op: "drop"; readonly client: number }
  | {
      readonly op: "resume";
      readonly client: number;
      readonly node: number;
      readonly query: boolean;
    }
  | { readonly op: "close"; readonly client: number; readonly via: number; readonly as: As }
  | { readonly op: "expire" }
  | { readonly op: "settle"; readonly pick: number };

const identity = fc.constantFrom<Identity>(...IDENTITIES);
const as = fc.oneof(
  { weight: 12, arbitrary: fc.constant<As>("self") },
  { weight: 1, arbitrary: fc.constantFrom<As>("ann", "bob", "anon") },
);
const notifier = fc.constantFrom<NotifierName>(...NOTIFIERS);
const index = fc.nat(31);

/** Last-Event-ID values that must start a new session. */
export const garbageId = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({
    unit: fc.constantFrom(":", "a", "0", ".", "-", "\n", "\r", "\0", "\u2028", "é"),
    maxLength: 30,
  }),
  fc.constantFrom(
    "",
    ":",
    "::",
    ":0",
    "x:",
    "x:-1",
    "x:01",
    "x:1e3",
    "x:0x1",
    "x: 1",
    "x:1 ",
    "x:99999999999999999",
  ),
  fc.nat().map((n) => "a".repeat(100 + (n % 4000))),
);

export function opArbitrary(nodes: number): fc.Arbitrary<Op> {
  const node = fc.nat(nodes - 1);
  const items = fc.array(fc.tuple(notifier, fc.nat(KEYS.length - 1)), {
    minLength: 1,
    maxLength: 3,
  });
  const bad: fc.Arbitrary<BadId> = fc.oneof(
    fc.record({ type: fc.constant("garbage" as const), text: garbageId }),
    fc.record({ type: fc.constant("foreign" as const), client: index }),
    fc.record({
      type: fc.constant("future" as const),
      client: index,
      ahead: fc.integer({ min: 1, max: 1e6 }),
    }),
    fc.record({ type: fc.constant("dead" as const), pick: index }),
  );
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant("open" as const), identity, node }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("openBad" as const),
        identity,
        node,
        id: bad,
        query: fc.boolean(),
      }),
    },
    {
      weight: 10,
      arbitrary: fc.record({
        op: fc.constant("listen" as const),
        client: index,
        items,
        via: node,
        as,
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant("unlisten" as const),
        client: index,
        items,
        via: node,
        as,
      }),
    },
    {
      weight: 12,
      arbitrary: fc.record({
        op: fc.constant("notify" as const),
        node,
        notifier,
        key: fc.nat(KEYS.length - 1),
        notfor: fc.oneof(
          { weight: 6, arbitrary: fc.constant<NotForKind>("none") },
          fc.constantFrom<NotForKind>("session", "identity", "req"),
        ),
        target: index,
        lazy: fc.boolean(),
        hot: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constantFrom("serverListen" as const, "serverUnlisten" as const),
        client: index,
        notifier,
        key: fc.nat(KEYS.length - 1),
        node,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("unlistenIdentity" as const),
        identity,
        notifier,
        key: fc.nat(KEYS.length - 1),
        node,
      }),
    },
    { weight: 3, arbitrary: fc.record({ op: fc.constant("drop" as const), client: index }) },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant("resume" as const),
        client: index,
        node,
        query: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant("close" as const), client: index, via: node, as }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("expire" as const) }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant("settle" as const), pick: index }) },
  );
}

/** The number of runs and the step count per run, scaled by RELIABILITY_RUNS (a multiplier). */
export function scale(runs: number, steps: number): { numRuns: number; maxLength: number } {
  const factor = Number(process.env.RELIABILITY_RUNS ?? 1) || 1;
  return { numRuns: Math.max(1, Math.round(runs * factor)), maxLength: steps };
}
