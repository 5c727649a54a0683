/**
 * What the cluster history tests share: numbered notifies flowing on a key,
 * what a stream got of a key, and the checks every topology change must
 * pass (each accepted notify once and in order, or a gap told; no position
 * naming two notifies).
 */
import { expect } from "chai";
import type { Notifier } from "../../server/index.js";
import { redisBus } from "../../server/redis.js";
import { redisNames } from "../../server/redis-history.js";
import { slotOf } from "../../server/slots.js";
import { chat, rawListen, stream } from "../e2e/history.js";
import { type RawStream, startServer, until } from "../helpers.js";
import type { LocalCluster } from "./local-cluster.js";

export const KEY = "hot";
/** Enough that nothing a test sends is trimmed: a recovery is then decided by continuity alone. */
export const HISTORY = { size: 100_000 };

export type ChatNotifier = Notifier<string, string, string, string | null>;

export const freshPrefix = () =>
  `sse-notif-hist:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`;

/** The slot of a key's channel, stream and meta (the hot key's by default). */
export const hotSlot = (prefix: string, key = KEY) =>
  slotOf(redisNames(prefix, `t:chat:${JSON.stringify(key)}`).channel);

/** Numbered notifies on one key, one at a time (so in call order), from one node. */
export class Notifies {
  readonly accepted: number[] = [];
  refused = 0;
  next = 0;
  #stopped = true;
  #done: Promise<void> = Promise.resolve();

  constructor(
    readonly notifier: ChatNotifier,
    readonly key = KEY,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#done = (async () => {
      while (!this.#stopped) {
        const n = this.next++;
        await this.notifier.notify(this.key, String(n)).then(
          () => this.accepted.push(n),
          () => {
            this.refused += 1;
            return new Promise((resolve) => setTimeout(resolve, 20)); // no master: not accepted
          },
        );
      }
    })();
  }

  /** Sends until `count` more were accepted. */
  async more(count: number, ms = 30_000): Promise<void> {
    const from = this.accepted.length;
    await until(() => this.accepted.length >= from + count, ms, `${count} more accepted`);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

export interface Seen {
  readonly values: number[];
  readonly positions: (string | undefined)[];
  readonly gaps: number;
}

/** The notifications of `key` and the session events naming it, in order. */
function eventsOf(raw: RawStream, key: string) {
  return raw.events.slice(1).flatMap((event) => {
    const body = JSON.parse(event.data);
    if (event.event === "session") {
      const names = (item: { key: unknown }) => item.key === key;
      if (body.status === "gap" && !body.lost.some(names)) return []; // told of other keys only
      return [{ session: true, body }];
    }
    return body.key === key ? [{ session: false, body }] : [];
  });
}

/** What a stream got on a key: values and positions in order, and the gaps told. */
export function seen(raw: RawStream, key = KEY): Seen {
  const values: number[] = [];
  const positions: (string | undefined)[] = [];
  let gaps = 0;
  for (const { session, body } of eventsOf(raw, key)) {
    if (session) {
      if (body.status === "gap") gaps += 1;
      continue;
    }
    values.push(Number(body.data));
    positions.push(body.pos);
  }
  return { values, positions, gaps };
}

/**
 * Once and in order; each accepted one there, or a gap told; positions
 * contiguous between two notifications unless a gap came between them.
 */
export function check(raw: RawStream, accepted: readonly number[], label: string, key = KEY): Seen {
  const got = seen(raw, key);
  const sorted = [...new Set(got.values)].sort((x, y) => x - y);
  expect(got.values, `${label}: once, in order`).to.deep.equal(sorted);
  const missing = accepted.filter((n) => !got.values.includes(n));
  if (missing.length > 0) expect(got.gaps, `${label}: missed ${missing} untold`).to.be.above(0);
  let last: { epoch: string; offset: number } | undefined;
  let gapSince = false;
  for (const { session, body } of eventsOf(raw, key)) {
    if (session) {
      gapSince ||= body.status === "gap";
      continue;
    }
    if (body.pos === undefined) continue; // delivered on its node only (no master): in no history
    const at = body.pos.lastIndexOf("-");
    const pos = { epoch: body.pos.slice(0, at), offset: Number(body.pos.slice(at + 1)) };
    if (last && !gapSince) {
      const next = pos.epoch === last.epoch ? last.offset + 1 : 1;
      expect(pos.offset, `${label}: ${body.pos} right after ${last.epoch}-${last.offset}`).to.equal(
        next,
      );
    }
    last = pos;
    gapSince = false;
  }
  return got;
}

/** No position names two notifies, over every stream. */
export function onePositionOneNotify(streams: readonly RawStream[], key = KEY): void {
  const named = new Map<string, number>();
  for (const raw of streams) {
    const { values, positions } = seen(raw, key);
    positions.forEach((pos, i) => {
      if (pos === undefined) return;
      const value = values[i] as number;
      expect(named.get(pos) ?? value, `${pos} names two notifies`).to.equal(value);
      named.set(pos, value);
    });
  }
}

/** The position of the last notification a stream got. */
export function lastPosition(raw: RawStream, key = KEY): { pos: string; value: number } {
  const { values, positions } = seen(raw, key);
  return { pos: positions.at(-1) as string, value: values.at(-1) as number };
}

/** A hub on the cluster, with its chat notifier. */
export async function startHub(cluster: LocalCluster, prefix: string) {
  const bus = redisBus({ cluster: { rootNodes: cluster.rootNodes }, prefix });
  const server = await startServer({ bus, history: HISTORY });
  return { ...server, n: server.hub.notifier(chat) as ChatNotifier };
}

/** Listens a stream to keys (the hot key by default); the listen must be accepted. */
export async function listenTo(url: string, raw: RawStream, keys: readonly string[] = [KEY]) {
  for (const key of keys) {
    const answer = await rawListen(url, { session: raw.session(), notifier: "chat", key });
    expect(answer.status).to.equal(204);
  }
}

/** Hubs A (notifies) and B on the cluster, and three streams listening to the hot key. */
export async function hubs(cluster: LocalCluster, prefix: string) {
  const start = () => startHub(cluster, prefix);
  const a = await start();
  const b = await start();
  const streams = [await stream(b.url), await stream(b.url), await stream(a.url)];
  for (const raw of streams) await listenTo(raw === streams[2] ? a.url : b.url, raw);
  return { a, b, streams, start };
}

/** Until every stream got `value` (of the hot key, by default). */
export async function reached(streams: readonly RawStream[], value: number, key = KEY) {
  for (const raw of streams) {
    await until(
      () => seen(raw, key).values.includes(value),
      10_000,
      `notify ${value} of ${key} on every stream`,
    );
  }
}
