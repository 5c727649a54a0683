/**
 * A client on a scripted EventSource and fetch, with the fake clock: for
 * the reconnection and recovery paths that a real server cannot be made to
 * take on cue (a 410 loop, a 503 on one request). Real-server tests are in
 * client.test.ts and test/e2e.
 */
import { makeStreamClient, type NotifClient } from "../../client/client.js";
import type { EventSourceLike, NotifErrorContext, NotifStatus } from "../../client/index.js";
import { type FakeClock, fakeClock } from "./clock.js";

type Listener = (event: MessageEvent) => void;

/** A stream the test drives: it emits what the test says, fails when told. */
export class ScriptedSource implements EventSourceLike {
  readyState = 0;
  readonly url: string;
  readonly #listeners = new Map<string, Listener[]>();
  #seq = 0;
  #session = "";

  constructor(url: string) {
    this.url = url;
  }

  addEventListener(type: string, listener: Listener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.readyState = 2;
  }

  /** The `session` event that opens a stream. */
  open(session: string, status: "new" | "resumed" | "gap", seq = 0): void {
    this.readyState = 1;
    this.#session = session;
    this.#seq = seq;
    this.emit("session", { session, status });
  }

  /** An event with the next id of this stream's session. */
  emit(type: string, data: unknown): void {
    this.emitText(type, JSON.stringify(data));
  }

  /** An event whose data is `text` as it is, with the next id. */
  emitText(type: string, text: string): void {
    const event = { data: text, lastEventId: `${this.#session}:${this.#seq}` };
    this.#seq += 1;
    for (const listener of this.#listeners.get(type) ?? []) listener(event as MessageEvent);
  }

  /** The connection drops (`readyState` 0, as EventSource retrying) or fails for good (2). */
  fail(readyState: 0 | 2 = 0): void {
    this.readyState = readyState;
    for (const listener of this.#listeners.get("error") ?? []) listener({} as MessageEvent);
  }
}

export interface Post {
  readonly path: string;
  readonly body: { session: string; items: { notifier: string; key: unknown; since?: unknown }[] };
}

export type Answer = { status: number; body?: unknown };

/** 204, a 200 of positions, or an error answer. */
export const answers = {
  ok: (): Answer => ({ status: 204 }),
  positions: (...items: [string, boolean | null][]): Answer => ({
    status: 200,
    body: { items: items.map(([pos, recovered]) => ({ pos, recovered })) },
  }),
  error: (status: number, code: string): Answer => ({
    status,
    body: { error: { code, message: code } },
  }),
};

export interface Rig {
  readonly client: NotifClient;
  readonly sources: ScriptedSource[];
  readonly posts: Post[];
  readonly statuses: NotifStatus[];
  readonly errors: [Error, NotifErrorContext][];
  readonly clock: FakeClock;
  /** The stream opened last. */
  source(): ScriptedSource;
}

/** A client whose POSTs `respond` answers, on the fake clock (random 0.5). */
export function rig(respond: (post: Post) => Answer, retry = 100): Rig {
  const sources: ScriptedSource[] = [];
  const posts: Post[] = [];
  const statuses: NotifStatus[] = [];
  const errors: [Error, NotifErrorContext][] = [];
  const clock = fakeClock(0.5);
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const post = { path: new URL(String(input)).pathname, body: JSON.parse(String(init?.body)) };
    posts.push(post);
    const { status, body } = respond(post);
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json" },
    });
  };
  const client = makeStreamClient(
    {
      url: "http://hub.test/notif",
      EventSource: class extends ScriptedSource {
        constructor(url: string) {
          super(url);
          sources.push(this);
        }
      },
      fetch,
      reconnect: { retry },
      onError: (error, context) => errors.push([error, context]),
    },
    clock,
  );
  client.onStatus((status) => statuses.push(status));
  return {
    client,
    sources,
    posts,
    statuses,
    errors,
    clock,
    source: () => sources.at(-1) as ScriptedSource,
  };
}

/** Lets pending promises (the fake fetch's answers) settle. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}
