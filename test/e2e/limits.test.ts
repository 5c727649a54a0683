/**
 * Caps on every resource a client can make a node hold (SPEC §3, §4, §5.5;
 * issue 11): sessions per node and per identity, key size and depth, the
 * replay buffer in bytes, and the time a POST body may take.
 */
import net from "node:net";
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { createHub, type HubOptions } from "../../server/index.js";
import { closeAll, listen, notifications, openRaw, post, startServer, until } from "../helpers.js";
import { openH2, postH2, startH2 } from "../http2.js";

const chatDef = defineNotifier<unknown, string>("chat");

async function getEvents(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/events`, { headers });
  const body = res.headers.get("content-type")?.startsWith("application/json")
    ? await res.json()
    : undefined;
  if (body === undefined) await res.body?.cancel();
  return { status: res.status, body };
}

describe("resource caps", () => {
  afterEach(closeAll);

  describe("maxSessions and maxSessionsPerIdentity", () => {
    it("refuses a new session over maxSessions with 429 too_many_sessions, not a resume", async () => {
      const { url, hub } = await startServer({ maxSessions: 2 });
      const a = await openRaw(`${url}/events`);
      const b = await openRaw(`${url}/events`, { "x-user": "bob" });
      await a.event(0);
      await b.event(0);
      const refused = await getEvents(url);
      expect(refused.status).to.equal(429);
      expect(refused.body).to.deep.equal({
        error: {
          code: "too_many_sessions",
          message: "this server holds its maximum of 2 sessions: retry later",
        },
      });
      expect(hub.stats().sessions).to.equal(2);
      // A live session at the cap may still resume.
      a.close();
      await until(() => hub.stats().streams === 1, 3_000, "a's stream to end");
      const again = await openRaw(`${url}/events`, { "last-event-id": `${a.session()}:0` });
      await again.event(0);
      expect(again.status_()).to.equal("resumed");
      // Once a session ends, a new one fits.
      expect(
        (await post(`${url}/close`, { session: b.session() }, { "x-user": "bob" })).status,
      ).to.equal(204);
      const fresh = await openRaw(`${url}/events`);
      await fresh.event(0);
      expect(fresh.status_()).to.equal("new");
    });

    it("refuses a non-null identity's session over maxSessionsPerIdentity; others are not affected", async () => {
      const { url, hub } = await startServer({ maxSessionsPerIdentity: 2 });
      const ann = { "x-user": "ann" };
      for (let i = 0; i < 2; i += 1) await (await openRaw(`${url}/events`, ann)).event(0);
      const refused = await getEvents(url, ann);
      expect(refused.status).to.equal(429);
      expect(refused.body).to.have.nested.property("error.code", "too_many_sessions");
      await (await openRaw(`${url}/events`, { "x-user": "bob" })).event(0);
      for (let i = 0; i < 3; i += 1) await (await openRaw(`${url}/events`)).event(0); // anonymous
      expect(hub.stats().sessions).to.equal(6);
    });
  });

  describe("maxKeyBytes and key depth", () => {
    it("answers 400 for a key over maxKeyBytes of canonical JSON, counted in UTF-8 bytes", async () => {
      const { url, hub } = await startServer();
      hub.notifier(chatDef);
      const raw = await openRaw(`${url}/events`);
      await raw.event(0);
      const session = raw.session();
      const fits = "k".repeat(1_022); // "…" is 1_024 bytes
      expect((await listen(url, session, "chat", fits)).status).to.equal(204);
      const over = await listen(url, session, "chat", "k".repeat(1_023));
      expect(over).to.deep.equal({
        status: 400,
        body: {
          error: {
            code: "bad_request",
            message:
              'the key of "chat" is 1025 bytes as canonical JSON, over the 1024 allowed (maxKeyBytes)',
          },
        },
      });
      const wide = await listen(url, session, "chat", "é".repeat(600)); // 600 characters, 1_202 bytes
      expect(wide.status).to.equal(400);
      const unlisten = await post(`${url}/unlisten`, {
        session,
        notifier: "chat",
        key: { k: fits },
      });
      expect(unlisten.status).to.equal(400);
      expect(hub.stats().listens).to.equal(1);
    });

    it("says a key is nested too deep instead of overflowing the stack", async () => {
      const { url, hub } = await startServer({ maxBodyBytes: 1 << 20, maxKeyBytes: 1 << 20 });
      hub.notifier(chatDef);
      const raw = await openRaw(`${url}/events`);
      await raw.event(0);
      const depth = 100_000;
      const body = `{"session":"${raw.session()}","notifier":"chat","key":${"[".repeat(depth)}${"]".repeat(depth)}}`;
      const answer = await post(`${url}/listen`, body);
      expect(answer).to.deep.equal({
        status: 400,
        body: {
          error: {
            code: "bad_request",
            message: 'the key of "chat" is nested deeper than 32 levels',
          },
        },
      });
      const ok = await listen(url, raw.session(), "chat", [[[[[[1]]]]]]);
      expect(ok.status).to.equal(204);
    });
  });

  describe("retentionBytes", () => {
    it("keeps at most retentionBytes of events per session: the oldest go and resume says gap", async () => {
      const { url, hub } = await startServer({ retentionBytes: 10_000 });
      const chat = hub.notifier(chatDef);
      const raw = await openRaw(`${url}/events`);
      await raw.event(0);
      const session = raw.session();
      await listen(url, session, "chat", "k");
      raw.close();
      await until(() => hub.stats().streams === 0, 3_000, "the stream to end");
      const value = "v".repeat(1_000);
      for (let i = 1; i <= 20; i += 1) await chat.notify("k", `${i}`.padStart(3, "0") + value);
      // Each event body: `event: chat\ndata: {"key":"k","data":"…"}\n\n`, 1_000 + 44 bytes.
      const bodyBytes = `event: chat\ndata: {"key":"k","data":"001${value}"}\n\n`.length;
      const kept = Math.floor(10_000 / bodyBytes);
      const again = await openRaw(`${url}/events`, { "last-event-id": `${session}:0` });
      await again.event(kept);
      expect(again.status_()).to.equal("gap");
      expect(again.events[0]?.id).to.equal(`${session}:${20 - kept}`);
      const seqs = again.events.slice(1).map((e) => Number(e.id?.split(":")[1]));
      expect(seqs).to.deep.equal(Array.from({ length: kept }, (_, i) => 21 - kept + i));
      expect(notifications(again).at(-1)?.data).to.equal(`020${value}`);
    });
  });

  describe("bodyTimeout", () => {
    /** A POST whose body trickles in one byte at a time; resolves with what the server sent and when it closed. */
    function trickle(port: number, every: number): Promise<{ answer: string; ms: number }> {
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const socket = net.connect(port, "127.0.0.1");
        let answer = "";
        let timer: NodeJS.Timeout | undefined;
        socket.setEncoding("utf8");
        socket.on("connect", () => {
          socket.write(
            "POST /notif/listen HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
          );
          timer = setInterval(() => socket.writable && socket.write(" "), every);
        });
        socket.on("data", (chunk: string) => {
          answer += chunk;
        });
        socket.on("error", () => {}); // a write racing the server's close
        socket.on("close", () => {
          clearInterval(timer);
          resolve({ answer, ms: Date.now() - started });
        });
        setTimeout(() => {
          socket.destroy();
          reject(new Error(`no answer after 5 s: ${answer}`));
        }, 5_000).unref();
      });
    }

    it("answers 408 request_timeout to bodies still arriving after bodyTimeout, and closes them", async () => {
      const { server, hub } = await startServer({ bodyTimeout: 300 });
      hub.notifier(chatDef);
      const port = (server.address() as net.AddressInfo).port;
      const results = await Promise.all(Array.from({ length: 50 }, () => trickle(port, 100)));
      for (const { answer, ms } of results) {
        expect(answer).to.match(/^HTTP\/1\.1 408 /);
        expect(answer).to.match(/connection: close/i);
        expect(answer).to.contain(
          '{"error":{"code":"request_timeout","message":"the body did not arrive within 300 ms"}}',
        );
        expect(ms).to.be.lessThan(5_000);
      }
      const alive = await new Promise<number>((resolve) =>
        server.getConnections((_, n) => resolve(n)),
      );
      expect(alive).to.equal(0);
    });

    it("answers 408 on HTTP/2 too, and resets that stream only", async () => {
      const h2 = await startH2("h2c", { bodyTimeout: 200 });
      try {
        h2.hub.notifier(chatDef);
        const client = h2.connect();
        const stream = await openH2(client);
        await stream.event(0);
        const req = client.request({
          ":method": "POST",
          ":path": "/notif/listen",
          "content-type": "application/json",
        });
        req.write("{");
        let text = "";
        let status = 0;
        req.setEncoding("utf8");
        req.on("response", (h) => {
          status = Number(h[":status"]);
        });
        req.on("data", (chunk: string) => {
          text += chunk;
        });
        req.on("error", () => {});
        await new Promise((resolve) => req.on("close", resolve));
        expect(status).to.equal(408);
        expect(JSON.parse(text)).to.have.nested.property("error.code", "request_timeout");
        const session = stream.session();
        const fine = await postH2(client, "/listen", { session, notifier: "chat", key: "k" });
        expect(fine.status).to.equal(204);
      } finally {
        await h2.close();
      }
    });
  });

  describe("validation", () => {
    const bad: [string, HubOptions<null>][] = [
      ["a zero maxSessions", { maxSessions: 0 }],
      ["a fractional maxSessionsPerIdentity", { maxSessionsPerIdentity: 1.5 }],
      ["a tiny maxKeyBytes", { maxKeyBytes: 8 }],
      ["a negative retentionBytes", { retentionBytes: -1 }],
      ["a string bodyTimeout", { bodyTimeout: "10s" as never }],
    ];
    for (const [what, options] of bad) {
      it(`createHub throws a TypeError for ${what}`, () => {
        expect(() => createHub(options)).to.throw(TypeError, /sse-notif: option \w+ must be/);
      });
    }

    it("hub.notifier refuses a hand-made definition with a reserved name", async () => {
      const hub = createHub();
      for (const name of ["error", "open", "message", "session"]) {
        expect(() => hub.notifier({ name, keyId: String })).to.throw(TypeError, /reserved/);
      }
      await hub.close();
    });
  });
});
