/**
 * `notfor: req` from a tab that shares its session with other tabs (SPEC §7):
 * the request names its tab (X-Notif-Tab), the session still gets the event,
 * marked for that tab, on this node and across the bus.
 */
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { InProcessBroker, inProcessBus } from "../../server/bus.js";
import type { Hub, HubOptions } from "../../server/index.js";
import { parseTopicMessage } from "../../server/messages.js";
import { closeAll, listen, notifications, openRaw, startServer, until } from "../helpers.js";

const chat = defineNotifier<string, string>("chat");

/** A server whose POST /say notifies "a" with `notfor: req`. */
function saying(options: HubOptions<string | null> = {}, prepare = false) {
  return startServer(options, (app, hub: Hub<string | null>) => {
    const n = prepare
      ? hub.notifier(chat, { prepare: (user, value: string) => `${value} for ${user}` })
      : hub.notifier(chat);
    app.post("/say", async (req, res) => {
      await n.notify("a", String(req.query.text ?? "x"), { notfor: req });
      res.sendStatus(204);
    });
  });
}

const data = (raw: Awaited<ReturnType<typeof openRaw>>) =>
  notifications(raw) as { key: unknown; data: string; notfor?: string }[];

describe("notfor: req from a tab sharing its session", () => {
  afterEach(closeAll);

  async function two(server: Awaited<ReturnType<typeof saying>>) {
    const shared = await openRaw(`${server.url}/events`);
    const other = await openRaw(`${server.url}/events`);
    await shared.event(0);
    await other.event(0);
    await listen(server.url, shared.session(), "chat", "a");
    await listen(server.url, other.session(), "chat", "a");
    return { shared, other };
  }

  const say = (origin: string, headers: Record<string, string>, text = "x") =>
    fetch(`${origin}/say?text=${text}`, { method: "POST", headers });

  it("sends the session the event marked with the tab, other sessions unmarked", async () => {
    const server = await saying();
    const { shared, other } = await two(server);
    const res = await say(server.origin, {
      "X-Notif-Session": shared.session(),
      "X-Notif-Tab": "tab-1",
    });
    expect(res.status).to.equal(204);
    await until(() => notifications(shared).length === 1 && notifications(other).length === 1);
    expect(data(shared)).to.deep.include.members([{ key: "a", data: "x", notfor: "tab-1" }]);
    expect(data(other)[0]).to.not.have.property("notfor");
    expect(server.hub.sessionOf({ headers: { "x-notif-session": "s" } } as never)).to.equal("s");
  });

  it("marks the prepared value too", async () => {
    const server = await saying({}, true);
    const { shared } = await two(server);
    await say(server.origin, { "X-Notif-Session": shared.session(), "X-Notif-Tab": "t2" });
    await shared.event(1);
    expect(data(shared)[0]).to.include({ data: "x for null", notfor: "t2" });
  });

  it("excludes the whole session when the tab header is malformed", async () => {
    const server = await saying();
    const { shared, other } = await two(server);
    await say(server.origin, { "X-Notif-Session": shared.session(), "X-Notif-Tab": "a b:c" });
    await say(server.origin, { "X-Notif-Session": shared.session() }, "y");
    await say(server.origin, {}, "z");
    await until(() => notifications(other).length === 3);
    await shared.event(1);
    expect(data(shared).map((d) => d.data)).to.deep.equal(["z"]);
  });

  it("carries the tab across the bus", async () => {
    const broker = new InProcessBroker();
    const a = await saying({ bus: inProcessBus(broker) });
    const b = await saying({ bus: inProcessBus(broker) });
    const shared = await openRaw(`${b.url}/events`);
    await shared.event(0);
    await listen(b.url, shared.session(), "chat", "a");
    await say(a.origin, { "X-Notif-Session": shared.session(), "X-Notif-Tab": "t3" });
    await say(a.origin, {}, "y");
    await shared.event(2);
    expect(data(shared).map((d) => [d.data, d.notfor])).to.deep.equal([
      ["x", "t3"],
      ["y", undefined],
    ]);
  });

  it("bus messages: a tab needs its session and the shape of an id", () => {
    const message = (notfor: object) =>
      JSON.stringify({
        type: "notify",
        node: "n",
        id: 1,
        notifier: "chat",
        key: 1,
        value: 2,
        notfor,
      });
    expect(parseTopicMessage(message({ session: "s", tab: "t" })).type).to.equal("notify");
    expect(() => parseTopicMessage(message({ tab: "t" }))).to.throw(TypeError);
    expect(() => parseTopicMessage(message({ session: "s", tab: "a\nb" }))).to.throw(TypeError);
    expect(() => parseTopicMessage(message({ session: "s", tab: 7 }))).to.throw(TypeError);
  });
});
