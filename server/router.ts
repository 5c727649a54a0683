/**
 * The Express router: parse, validate in the protocol's order, answer errors
 * as JSON, call the hub. Nothing thrown here reaches Express.
 */
import express, { type Request, type Response, type Router } from "express";
import { PATHS, type SessionId } from "../client/protocol.js";
import { parseCloseBody, parseListenBody, readJson } from "./body.js";
import type { HubCore } from "./core.js";
import { NotifError, toError } from "./errors.js";
import type { Op, SessionRequest } from "./requests.js";

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

  function open(): void {
    if (core.closed)
      throw new NotifError("unavailable", "this hub is closed; reconnect to another server");
  }

  /**
   * A POST on a session: 410 when no node holds it, then the caller's
   * identity, then the rest on the node that holds it.
   */
  async function onSession(
    req: Request,
    op: Op,
    session: SessionId,
    items: SessionRequest["items"],
  ) {
    if (!core.reachable(session)) {
      throw new NotifError(
        "unknown_session",
        "no such live session: open a new stream with GET /events",
      );
    }
    const identityId = core.identityId(await identify(req));
    await core.route({ op, session, identityId, items });
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

  for (const op of ["listen", "unlisten"] as const) {
    router.post(
      PATHS[op],
      guard(async (req, res) => {
        open();
        const body = parseListenBody(await readJson(req, core.options.maxBodyBytes));
        await onSession(req, op, body.session, body.items);
        res.status(204).end();
      }),
    );
  }

  router.post(
    PATHS.close,
    guard(async (req, res) => {
      open();
      const session = parseCloseBody(await readJson(req, core.options.maxBodyBytes));
      await onSession(req, "close", session, []);
      res.status(204).end();
    }),
  );

  router.get(PATHS.stats, (req, res) => {
    if (!core.options.stats) {
      answerError(
        core,
        req,
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
