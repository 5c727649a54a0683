import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { createHub } from "../../server/index.js";
import { listen, notifications, openRaw } from "../helpers.js";

describe("hub.handler() on a bare node:http server", () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it("serves the protocol under its prefix and lets other requests fall through", async () => {
    const hub = createHub({
      identify: (req) => (req.headers["x-user"] as string | undefined) ?? null,
    });
    const n = hub.notifier(defineNotifier<string, string>("chat"));
    const serve = hub.handler("/notif/");
    server = http.createServer((req, res) => {
      if (!serve(req, res)) res.writeHead(404).end("app");
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const raw = await openRaw(`${origin}/notif/events`, { "x-user": "ann" });
    await raw.event(0);
    expect(raw.headers.connection).to.equal("close");
    expect(raw.headers["transfer-encoding"]).to.equal(undefined);
    const res = await listen(`${origin}/notif`, raw.session(), "chat", "k", { "x-user": "ann" });
    expect(res.status).to.equal(204);
    await n.notify("k", "bare");
    await raw.event(1);
    expect(notifications(raw)).to.deep.equal([{ key: "k", data: "bare" }]);
    expect((await fetch(`${origin}/other`)).status).to.equal(404);
    expect((await fetch(`${origin}/notifications`)).status).to.equal(404);
    const stats = await fetch(`${origin}/notif/stats`);
    expect(await stats.json()).to.include({ sessions: 1, listens: 1 });
    const refused = await fetch(`${origin}/notif/listen`, { method: "POST", body: "x" });
    expect(refused.status).to.equal(415);
    await hub.close();
  });
});
