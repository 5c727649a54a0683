/**
 * Listen, unlisten and close applied to a session held on this node, with the
 * protocol's checks in its order: session, identity, notifier, key, authorize,
 * limit. The router calls it for local sessions; `remote.ts` for requests
 * forwarded from other nodes.
 */

import { type Topic, topicOf } from "../protocol/keys.js";
import type { SessionId } from "../protocol/wire.js";
import { checkKey } from "./body.js";
import type { AnyDelivery } from "./delivery.js";
import { NotifError, toError, unknownSession } from "./errors.js";
import type { IdentityId } from "./ids.js";
import type { ListenAnswer } from "./join.js";
import type { ListenAnswers, SessionRequest } from "./messages.js";
import type { Session } from "./session.js";

/** A listen item checked and resolved against its notifier. */
export interface Resolved {
  readonly delivery: AnyDelivery;
  readonly key: unknown;
  readonly topic: Topic;
  /** From the request (`/listen` with positions, SPEC §6). */
  readonly since?: string | null | undefined;
  /** Replay after `since` even a key the session listens to already (a late tab, SPEC §7). */
  readonly replay?: boolean | undefined;
}

/** What applying a request needs of the hub (the hub itself, narrowed). */
export interface RequestsHost<I> {
  readonly options: {
    readonly maxKeyBytes: number;
    readonly onError: (error: Error, context: object) => void;
  };
  readonly registry: { session(id: SessionId): Session<I> | undefined };
  readonly deliveries: ReadonlyMap<string, AnyDelivery>;
  listen(
    session: Session<I>,
    items: readonly Resolved[],
    positions?: boolean,
  ): Promise<ListenAnswer[] | undefined>;
  position(item: Resolved): Promise<{ pos: string }>;
  unlisten(session: Session<I>, topics: readonly Topic[]): void;
  endSession(session: Session<I>, why: "closing"): void;
}

/**
 * Applies a request to a local session; throws a `NotifError` on the first
 * fault. Resolves to the answer items of a `/listen` that asked positions.
 */
export async function applyRequest<I>(
  core: RequestsHost<I>,
  request: SessionRequest,
): Promise<ListenAnswers | undefined> {
  const session = core.registry.session(request.session);
  if (!session) throw unknownSession();
  const caller = callerOf(request);
  if (caller.kind === "client" && caller.identityId !== session.identityId) {
    throw new NotifError("forbidden", "this session belongs to another identity");
  }
  if (request.op === "close") {
    core.endSession(session, "closing");
    return;
  }
  const trusted = caller.kind === "server";
  const items = resolveItems(core, request.items, trusted);
  if (request.op === "unlisten") {
    core.unlisten(
      session,
      items.map((item) => item.topic),
    );
    return;
  }
  const positions = request.items.some((item) => "since" in item && item.since !== undefined);
  if (trusted) return answers(await core.listen(session, items, positions));
  return answers(await listenAuthorized(core, session, items, positions));
}

/** Who asks: server code (`notifier.listen`: trusted, nothing checked) or a client of one identity. */
export type Caller =
  | { readonly kind: "server" }
  | { readonly kind: "client"; readonly identityId: IdentityId };

/** A request's caller: server code's own requests carry no identity (on the bus too). */
export function callerOf(request: SessionRequest): Caller {
  const { identityId } = request;
  return identityId === undefined ? { kind: "server" } : { kind: "client", identityId };
}

/**
 * A client's listen: `authorize` first; an item unlistened while it ran is
 * not listened (an unlisten answered meanwhile wins), nor is a `replay` item
 * of a key the session does not listen to (it only replays: an unlisten
 * that overtook it wins too), and its answer is the key's position.
 */
async function listenAuthorized<I>(
  core: RequestsHost<I>,
  session: Session<I>,
  items: Resolved[],
  positions: boolean,
): Promise<ListenAnswer[] | undefined> {
  const since = session.pauseRevocations();
  let kept: Resolved[];
  try {
    await authorize(core, session, items);
    kept = items.filter(
      (item) =>
        !session.revokedSince(item.topic, since) &&
        !(item.replay === true && !session.topics.has(item.topic)),
    );
  } finally {
    session.resumeRevocations();
  }
  if (session.ended) throw new NotifError("unknown_session", "the session ended meanwhile");
  const given = await core.listen(session, kept, positions);
  if (!given || kept.length === items.length) return given;
  return Promise.all(
    items.map(async (item) => {
      const i = kept.indexOf(item);
      if (i >= 0) return given[i] as ListenAnswer;
      return { ...(await core.position(item)), recovered: item.replay === true ? false : null };
    }),
  );
}

function answers(items: readonly ListenAnswer[] | undefined): ListenAnswers | undefined {
  return items ? { items } : undefined;
}

/** Checks every notifier, then every key: one fault and nothing is applied. */
function resolveItems<I>(
  core: RequestsHost<I>,
  items: SessionRequest["items"],
  trusted: boolean,
): Resolved[] {
  const deliveries = items.map((item) => {
    const delivery = core.deliveries.get(item.notifier);
    if (!delivery) {
      throw new NotifError(
        "unknown_notifier",
        `no notifier named ${JSON.stringify(item.notifier)}`,
      );
    }
    return delivery;
  });
  return items.map((item, i) => {
    const delivery = deliveries[i] as AnyDelivery;
    if (!trusted) checkKey(item.key, core.options.maxKeyBytes, item.notifier);
    try {
      const parse = delivery.options.parseKey;
      const key = parse && !trusted ? parse(item.key) : item.key;
      const topic = topicOf(item.notifier, delivery.def.keyId(key));
      return { delivery, key, topic, since: item.since, replay: item.replay };
    } catch (error) {
      const why = error instanceof Error ? `: ${error.message}` : "";
      throw new NotifError("bad_request", `key refused by notifier "${item.notifier}"${why}`, {
        cause: error,
      });
    }
  });
}

async function authorize<I>(
  core: RequestsHost<I>,
  session: Session<I>,
  items: Resolved[],
): Promise<void> {
  for (const item of items) {
    const check = item.delivery.options.authorize;
    if (!check) continue;
    let allowed: boolean;
    try {
      allowed = (await check(session.identity, item.key)) === true;
    } catch (error) {
      core.options.onError(toError(error), {
        during: "authorize",
        notifier: item.delivery.def.name,
      });
      allowed = false;
    }
    if (!allowed) {
      throw new NotifError(
        "forbidden",
        `not allowed to listen to this key of "${item.delivery.def.name}"`,
      );
    }
  }
}
