/**
 * The Express router: parse, validate in the protocol's order, answer errors
 * as JSON, call the hub. Nothing thrown here reaches Express.
 */
import express, { type Request, type Response, type Router } from "express";
import { PATHS, type SessionId } from "../client/protocol.js";
import { parseCloseBody, parseListenBody, readJson } from "./body.js";
import type { HubCore, Resolved } from "./core.js";
import { NotifError, toError } from "./errors.js";
import { topicOf } from "./registry.js";
import type { Session } from "./session.js";

type Handler = (req: Request, res: Response) => Promise<void>;

/** Builds the router of a hub. */
export function makeRouter<Identity>(core: HubCore<Identity>, stats: () => object): Router {
  const router = express.Router();
  const guard = (handler: Handler) => (req: Request, res: Response) => {
    handler(req, res).catch((error: unknown) => answerError(core, req, res, error));
  };

  async function identify(req: Request): Promise<Identity> {
    try {
      return await core.options.identify(req);
    } catch (error) {
      core.options.onError(toError(error), { during: "identify", path: req.path });
      throw new NotifError("forbidden", "the request's identity could not be established", {
        cause: error,
      });
    }
  }

  /** The session named in a POST, checked against the caller's identity (410, then 403). */
  async function ownSession(req: Request, id: SessionId): Promise<Session<Identity>> {
    const session = core.registry.session(id);
    if (!session) {
      throw new NotifError(
        "unknown_session",
        "no such live session: open a new stream with GET /events",
      );
    }
    const identity = await identify(req);
    if (core.identityId(identity) !== session.identityId) {
      throw new NotifError("forbidden", "this session belongs to another identity");
    }
    return session;
  }

  /** Checks notifier, key and (for listen) authorize, item by item: all or nothing. */
  async function resolve(
    session: Session<Identity>,
    items: readonly { notifier: string; key: unknown }[],
    authorize: boolean,
  ): Promise<Resolved[]> {
    const resolved: Resolved[] = [];
    for (const item of items) {
      const delivery = core.deliveries.get(item.notifier);
      if (!delivery)
        throw new NotifError(
          "unknown_notifier",
          `no notifier named ${JSON.stringify(item.notifier)}`,
        );
      let key: unknown;
      let keyId: string;
      try {
        key = delivery.options.parseKey ? delivery.options.parseKey(item.key) : item.key;
        keyId = delivery.def.keyId(key);
      } catch (error) {
        const why = error instanceof Error ? `: ${error.message}` : "";
        throw new NotifError("bad_request", `key refused by notifier "${item.notifier}"${why}`, {
          cause: error,
        });
      }
      resolved.push({ delivery, key, topic: topicOf(item.notifier, keyId) });
    }
    if (authorize) {
      for (const item of resolved) {
        const check = item.delivery.options.authorize;
        if (check && (await check(session.identity, item.key)) !== true) {
          throw new NotifError(
            "forbidden",
            `not allowed to listen to this key of "${item.delivery.def.name}"`,
          );
        }
      }
    }
    return resolved;
  }

  function open(): void {
    if (core.closed)
      throw new NotifError("unavailable", "this hub is closed; reconnect to another server");
  }

  router.get(
    PATHS.events,
    guard(async (req, res) => {
      open();
      const identity = await identify(req);
      open();
      const header = req.headers["last-event-id"];
      const query = new URL(req.originalUrl ?? req.url, "http://x").searchParams.get("lastEventId");
      core.openStream(
        req,
        res,
        identity,
        typeof header === "string" && header !== "" ? header : query,
      );
    }),
  );

  router.post(
    PATHS.listen,
    guard(async (req, res) => {
      open();
      const body = parseListenBody(await readJson(req, core.options.maxBodyBytes));
      const session = await ownSession(req, body.session);
      const items = await resolve(session, body.items, true);
      if (session.ended) throw new NotifError("unknown_session", "the session ended meanwhile");
      await core.listen(session, items);
      res.status(204).end();
    }),
  );

  router.post(
    PATHS.unlisten,
    guard(async (req, res) => {
      open();
      const body = parseListenBody(await readJson(req, core.options.maxBodyBytes));
      const session = await ownSession(req, body.session);
      const items = await resolve(session, body.items, false);
      core.unlisten(
        session,
        items.map((item) => item.topic),
      );
      res.status(204).end();
    }),
  );

  router.post(
    PATHS.close,
    guard(async (req, res) => {
      open();
      const session = await ownSession(
        req,
        parseCloseBody(await readJson(req, core.options.maxBodyBytes)),
      );
      core.endSession(session, "closing");
      res.status(204).end();
    }),
  );

  router.get(PATHS.stats, (_req, res) => {
    if (!core.options.stats) {
      answerError(
        core,
        _req,
        res,
        new NotifError("not_found", "stats are turned off (stats: false)"),
      );
      return;
    }
    res.status(200).json(stats());
  });

  return router;
}

function answerError<I>(core: HubCore<I>, req: Request, res: Response, thrown: unknown): void {
  const error =
    thrown instanceof NotifError
      ? thrown
      : new NotifError("internal", "the server failed to handle this request", { cause: thrown });
  if (!(thrown instanceof NotifError)) {
    core.options.onError(toError(thrown), { during: "request", path: req.path });
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(error.status).json(error.toBody());
}
