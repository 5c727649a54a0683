/**
 * Operations of the position model tests: plain data, so that any sequence
 * (and any shrunk one) prints as a literal and runs again; and their
 * fast-check arbitraries. Clients, nodes and keys are named by index, modulo
 * what exists (a dead node stands for the next live one).
 */
import fc from "fast-check";
import { PKEYS } from "./positions-model.js";

/** Clients in a run (each one a browser with its positions). */
export const CLIENTS = 3;

export type POp =
  /** The client (re)connects to a node: resuming its session (Last-Event-ID) or a new one. */
  | {
      readonly op: "connect";
      readonly client: number;
      readonly node: number;
      readonly resume: boolean;
    }
  /** The client wants a key too (listened at once when connected, else on connecting). */
  | { readonly op: "listen"; readonly client: number; readonly key: number }
  | { readonly op: "notify"; readonly node: number; readonly key: number }
  /** The client's stream drops (its session lives on, on its node). */
  | { readonly op: "drop"; readonly client: number }
  /** A node dies: its clients' streams cut, its hub and sessions gone. */
  | { readonly op: "kill"; readonly node: number }
  /** A dead node starts again: a new hub on the same bus. */
  | { readonly op: "restart"; readonly node: number }
  /** A node's bus connection is cut (until `restore`): it notifies and listens without it. */
  | { readonly op: "cut" | "restore"; readonly node: number }
  /** Redis loses every key's history (restarted without persistence, flushed). */
  | { readonly op: "flush" }
  /** A node's bus connection is cut while other nodes notify these keys, then restored. */
  | {
      readonly op: "outage";
      readonly node: number;
      readonly notifies: readonly { readonly node: number; readonly key: number }[];
    };

export function pOpArbitrary(nodes: number, flush = false): fc.Arbitrary<POp> {
  const node = fc.nat(nodes - 1);
  const client = fc.nat(CLIENTS - 1);
  const key = fc.nat(PKEYS.length - 1);
  const ops: fc.WeightedArbitrary<POp>[] = [
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant("connect" as const),
        client,
        node,
        resume: fc.boolean(),
      }),
    },
    { weight: 4, arbitrary: fc.record({ op: fc.constant("listen" as const), client, key }) },
    { weight: 12, arbitrary: fc.record({ op: fc.constant("notify" as const), node, key }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("drop" as const), client }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("kill" as const), node }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("restart" as const), node }) },
  ];
  if (flush) ops.push({ weight: 1, arbitrary: fc.constant({ op: "flush" as const }) });
  if (nodes > 1) {
    ops.push({
      weight: 2,
      arbitrary: fc.record({ op: fc.constantFrom("cut" as const, "restore" as const), node }),
    });
    ops.push({
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant("outage" as const),
        node,
        notifies: fc.array(fc.record({ node, key }), { maxLength: 8 }),
      }),
    });
  }
  return fc.oneof(...ops);
}

/**
 * Every run starts with every client connected (spread over the nodes) and
 * listening to two keys, so that what follows has someone to reach.
 */
export function withSetup(ops: readonly POp[]): POp[] {
  const setup: POp[] = [];
  for (let client = 0; client < CLIENTS; client += 1) {
    setup.push({ op: "connect", client, node: client, resume: false });
    setup.push({ op: "listen", client, key: client });
    setup.push({ op: "listen", client, key: client + 1 });
  }
  return [...setup, ...ops];
}
