/** The demo's JSON API: login by cookie, room history, posting, muting. */
import express, { type Request, type Response } from "express";
import type { Notifier } from "../server/index.js";
import {
  isRoom,
  type Me,
  type Message,
  type RoomName,
  type ShownMessage,
  USER_NAME,
} from "./shared.js";
import type { Store } from "./store.js";

type Rooms = Notifier<{ room: RoomName }, Message, ShownMessage, string | null>;

/** The logged-in user: the `user` cookie, when it is a valid name. */
export function userOf(req: { readonly headers: { readonly cookie?: string } }): string | null {
  const value = /(?:^|;\s*)user=([^;]*)/.exec(req.headers.cookie ?? "")?.[1] ?? "";
  return USER_NAME.test(value) ? value : null;
}

export function api(store: Store, rooms: Rooms): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: "4kb" }));

  const me = (user: string): Me => ({ user, muted: store.muted(user) });
  const fail = (res: Response, status: number, message: string) =>
    void res.status(status).json({ error: message });
  /** Runs `handler` for a logged-in user, else answers 401. */
  const authed =
    (handler: (user: string, req: Request, res: Response) => unknown) =>
    (req: Request, res: Response) => {
      const user = userOf(req);
      if (user === null) return fail(res, 401, "log in first");
      return handler(user, req, res);
    };

  router.get(
    "/me",
    authed((user, _req, res) => res.json(me(user))),
  );

  router.post("/login", (req, res) => {
    const name: unknown = req.body?.name;
    if (typeof name !== "string" || !USER_NAME.test(name)) {
      return fail(res, 400, "a name is 1 to 20 letters, digits, '-' or '_'");
    }
    res.cookie("user", name, { httpOnly: true, sameSite: "lax", path: "/" });
    res.json(me(name));
  });

  router.post("/logout", (_req, res) => {
    res.clearCookie("user", { path: "/" }).sendStatus(204);
  });

  router.post(
    "/mute",
    authed((user, req, res) => {
      const { user: other, muted } = req.body ?? {};
      if (typeof other !== "string" || typeof muted !== "boolean") {
        return fail(res, 400, "send { user, muted }");
      }
      store.setMuted(user, other, muted);
      res.json(me(user));
    }),
  );

  router.get(
    "/rooms/:room/messages",
    authed((user, req, res) => {
      const room = req.params.room;
      if (!isRoom(room)) return fail(res, 404, "no such room");
      res.json(store.history(user, room));
    }),
  );

  router.post(
    "/rooms/:room/messages",
    authed(async (user, req, res) => {
      const room = req.params.room;
      const text: unknown = req.body?.text;
      if (!isRoom(room)) return fail(res, 404, "no such room");
      if (typeof text !== "string" || text.trim() === "" || text.length > 500) {
        return fail(res, 400, "a message is 1 to 500 characters");
      }
      const message = store.add(room, user, text.trim());
      // notfor: the sender's page appends its own message from this answer.
      await rooms.notify({ room }, message, { notfor: req }).catch((error: Error) => {
        console.error(`demo: message ${message.id} reached this server's listeners only:`, error);
      });
      res.status(201).json(store.show(user, message));
    }),
  );

  return router;
}
