import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
// @ts-expect-error express 4 is installed under an alias, without its own types
import express4 from "express4";
import { defineNotifier } from "../../protocol/contract.js";
import { createHub } from "../../server/index.js";
import { listen, notifications, openRaw } from "../helpers.js";

describe("hub.router() in an Express 4 app", () => {
  it("serves the protocol", async () => {
    const hub = createHub();
    const n = hub.notifier(defineNotifier<string, string>("chat"));
    const app = express4();
    app.use("/notif", hub.router());
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notif`;
    try {
      const raw = await openRaw(`${url}/events`);
      await raw.event(0);
      expect((await listen(url, raw.session(), "chat", "k")).status).to.equal(204);
      await n.notify("k", "v4");
      await raw.event(1);
      expect(notifications(raw)).to.deep.equal([{ key: "k", data: "v4" }]);
      expect((await listen(url, "nope.nope", "chat", "k")).status).to.equal(410);
    } finally {
      await hub.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
