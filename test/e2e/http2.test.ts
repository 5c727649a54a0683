/**
 * `hub.handler()` on real `node:http2` servers (SPEC §9, issue 11): TLS with
 * and without `allowHTTP1`, and h2c, read with Node's `http2.connect`.
 * Streams, listens, notifies, heartbeats, replay on resume, and the
 * backpressure of one paused HTTP/2 stream cutting that stream only.
 */
import { once } from "node:events";
import http from "node:http";
import type http2 from "node:http2";
import https from "node:https";
import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { closeAll, openRaw, until } from "../helpers.js";
import { H2_MODES, type H2Server, openH2, postH2, startH2 } from "../http2.js";

const chatDef = defineNotifier<string, string>("chat");
const ANN = { "x-user": "ann" };

describe("HTTP/2 with hub.handler()", () => {
  let server: H2Server<string | null> | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await closeAll();
  });

  it("with allowHTTP1 serves an HTTP/1.1 client on the same TLS port", async () => {
    server = await startH2("tls+http1");
    const chat = server.hub.notifier(chatDef);
    const text = await new Promise<{ headers: http.IncomingHttpHeaders; body: string }>(
      (resolve, reject) => {
        const req = https.get(
          `${server?.origin}/notif/events`,
          { rejectUnauthorized: false, headers: ANN },
          (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => {
              body += chunk;
              const session = /"session":"([^"]+)"/.exec(body)?.[1];
              if (session && !body.includes("event: chat")) {
                if (!body.includes("#listened")) {
                  body += "#listened";
                  const client = server?.connect();
                  if (!client) return;
                  void postH2(client, "/listen", { session, notifier: "chat", key: "k" }, ANN)
                    .then(() => chat.notify("k", "to h1"))
                    .catch(reject);
                }
              } else if (body.includes("event: chat")) {
                resolve({ headers: res.headers, body });
                req.destroy();
              }
            });
          },
        );
        req.on("error", reject);
      },
    );
    expect(text.headers.connection).to.equal("close");
    expect(text.body).to.match(
      /event: chat\ndata: \{"key":"k","data":"to h1","pos":"[0-9a-z]+-\d+"\}\n\n$/,
    );
  });

  for (const mode of H2_MODES) {
    describe(mode, () => {
      it("streams, listens and notifies, with no connection-level header", async () => {
        server = await startH2(mode);
        const chat = server.hub.notifier(chatDef);
        const client = server.connect();
        const stream = await openH2(client, ANN);
        expect(stream.status).to.equal(200);
        expect(stream.headers["content-type"]).to.equal("text/event-stream; charset=utf-8");
        expect(stream.headers["cache-control"]).to.equal("no-cache, no-transform");
        expect(stream.headers["x-accel-buffering"]).to.equal("no");
        expect(stream.headers.connection).to.equal(undefined);
        expect(stream.headers["transfer-encoding"]).to.equal(undefined);
        await stream.event(0);
        expect(stream.sessionStatus()).to.equal("new");
        const session = stream.session();
        const answer = await postH2(
          client,
          "/listen",
          { session, notifier: "chat", key: "k" },
          ANN,
        );
        expect(answer.status).to.equal(204);
        await chat.notify("k", "over h2");
        const event = await stream.event(1);
        const epoch = /"pos":"([0-9a-z]+)-1"/.exec(event.data)?.[1];
        expect(event).to.deep.equal({
          id: `${session}:1`,
          event: "chat",
          data: `{"key":"k","data":"over h2","pos":"${epoch}-1"}`,
        });
        const refused = await postH2(client, "/listen", { session, notifier: "nope", key: 1 }, ANN);
        expect(refused).to.deep.include({ status: 404 });
        expect(server.hub.stats()).to.include({ sessions: 1, streams: 1, listens: 1, sent: 1 });
      });

      it("sends heartbeats through the HTTP/2 stream", async () => {
        server = await startH2(mode, { heartbeat: 30 });
        const stream = await openH2(server.connect(), ANN);
        await stream.event(0);
        const before = stream.comments;
        await until(() => stream.comments >= before + 3, 3_000, "three heartbeats");
        expect(stream.events).to.have.length(1);
        expect(server.hub.stats().streams).to.equal(1);
      });

      it("replays a backlog larger than a write burst on resume, in order", async () => {
        server = await startH2(mode);
        const chat = server.hub.notifier(chatDef);
        const client = server.connect();
        const first = await openH2(client, ANN);
        await first.event(0);
        const session = first.session();
        await postH2(client, "/listen", { session, notifier: "chat", key: "k" }, ANN);
        first.close();
        await first.ended();
        const big = "x".repeat(2_000);
        for (let i = 1; i <= 200; i += 1) await chat.notify("k", `${i}:${big}`); // 400 kB > 64 kB
        const again = await openH2(client, { ...ANN, "last-event-id": `${session}:0` });
        await again.event(200, 5_000);
        expect(again.sessionStatus()).to.equal("resumed");
        const seqs = again.events.slice(1).map((e) => Number(e.id?.split(":")[1]));
        expect(seqs).to.deep.equal(Array.from({ length: 200 }, (_, i) => i + 1));
        const epoch = /"pos":"([0-9a-z]+)-\d+"/.exec(again.events[1]?.data ?? "")?.[1];
        expect(again.events[200]?.data).to.equal(
          `{"key":"k","data":"200:${big}","pos":"${epoch}-200"}`,
        );
      });

      it("cuts a paused HTTP/2 stream over maxBufferedBytes, not its connection's other streams", async () => {
        const errors: unknown[] = [];
        server = await startH2(mode, {
          maxBufferedBytes: 64 * 1024,
          onError: (error) => errors.push(error),
        });
        const chat = server.hub.notifier(chatDef);
        const client = server.connect();
        // A big connection window: only the paused stream's own window fills.
        await once(client, "connect");
        client.setLocalWindowSize(64 * 1024 * 1024);
        const slow = await openH2(client, ANN);
        const fast = await openH2(client, ANN);
        await slow.event(0);
        await fast.event(0);
        for (const s of [slow, fast]) {
          const body = { session: s.session(), notifier: "chat", key: "k" };
          expect((await postH2(client, "/listen", body, ANN)).status).to.equal(204);
        }
        slow.pause();
        const big = "y".repeat(8 * 1024);
        let sent = 0;
        for (; sent < 200 && server.hub.stats().streams === 2; sent += 1) {
          await chat.notify("k", `${sent}:${big}`);
          await new Promise((resolve) => setImmediate(resolve)); // one flush per notify
        }
        expect(sent).to.be.lessThan(200);
        slow.resume(); // a paused stream reports its reset only once read
        await slow.ended();
        await fast.event(sent, 5_000);
        expect(fast.events).to.have.length(sent + 1);
        expect(server.hub.stats()).to.include({ sessions: 2, streams: 1 });
        // The cut stream resumes from its last event, on the same connection.
        const last = slow.events.at(-1)?.id ?? "";
        const resumed = await openH2(client, { ...ANN, "last-event-id": last });
        await resumed.event(0);
        expect(resumed.sessionStatus()).to.equal("resumed");
        const lastSeq = Number(last.split(":")[1]);
        await resumed.event(sent - lastSeq, 5_000);
        expect(resumed.events.at(-1)?.data).to.match(
          new RegExp(`^\\{"key":"k","data":"${sent - 1}:${big}","pos":"[0-9a-z]+-\\d+"\\}$`),
        );
        expect(errors).to.deep.equal([]);
      });

      it("a write that throws on one HTTP/2 stream cuts it and reports it; the server serves on", async () => {
        const errors: { error: Error; context: object }[] = [];
        server = await startH2(
          mode,
          { onError: (error, context) => errors.push({ error, context }) },
          (req, res) => {
            if (req.headers["x-fault"] === undefined) return;
            const sink = ("stream" in res ? res.stream : res.socket) as http2.Http2Stream;
            const write = sink.write.bind(sink) as (text: string) => boolean;
            sink.write = ((text: string) => {
              if (String(text).includes("boom")) throw new Error("injected write fault");
              return write(text);
            }) as typeof sink.write;
          },
        );
        await faultyWriteIsCut(server, server.connect());
        expect(errors.map((e) => e.error.message)).to.deep.equal(["injected write fault"]);
        expect(errors[0]?.context).to.include({ during: "stream write" });
      });
    });
  }

  it("while closing, refuses with a GOAWAY on the connection, so that the client's next request opens a new one", async () => {
    server = await startH2("h2c");
    server.hub.notifier(chatDef);
    const client = server.connect();
    const goaway = once(client, "goaway");
    const before = await postH2(client, "/listen", { session: "x.y", notifier: "chat", key: "k" });
    expect(before.status).to.equal(410);
    const closed = server.hub.close();
    const refused = await postH2(client, "/listen", { session: "x.y", notifier: "chat", key: "k" });
    expect(refused.status).to.equal(503);
    await goaway; // the connection takes no new stream: the next request goes elsewhere
    await closed;
    client.close();
  });
});

/** A stream whose writes of "boom" throw: cut alone, then a new stream works. */
async function faultyWriteIsCut(
  server: H2Server<string | null>,
  client: http2.ClientHttp2Session,
): Promise<void> {
  const chat = server.hub.notifier(chatDef);
  const faulty = await openH2(client, { ...ANN, "x-fault": "1" });
  const healthy = await openH2(client, ANN);
  await faulty.event(0);
  await healthy.event(0);
  for (const s of [faulty, healthy]) {
    await postH2(client, "/listen", { session: s.session(), notifier: "chat", key: "k" }, ANN);
  }
  await chat.notify("k", "boom");
  await faulty.ended();
  await healthy.event(1);
  expect(faulty.events).to.have.length(1);
  await chat.notify("k", "after");
  await healthy.event(2);
  const next = await openH2(client, ANN);
  await next.event(0);
  expect(next.sessionStatus()).to.equal("new");
}

describe("a write that throws on an HTTP/1.1 stream", () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await closeAll();
  });

  it("cuts that stream, reports it to onError, and the process serves on", async () => {
    const { createHub } = await import("../../server/index.js");
    const errors: { error: Error; context: object }[] = [];
    const hub = createHub({
      identify: (req) => (req.headers["x-user"] as string | undefined) ?? null,
      onError: (error, context) => errors.push({ error, context }),
    });
    const chat = hub.notifier(chatDef);
    const serve = hub.handler("/notif");
    server = http.createServer((req, res) => {
      const socket = res.socket;
      if (req.headers["x-fault"] !== undefined && socket) {
        const write = socket.write.bind(socket) as (text: string) => boolean;
        socket.write = ((text: string) => {
          if (String(text).includes("boom")) throw new Error("injected write fault");
          return write(text);
        }) as typeof socket.write;
      }
      if (!serve(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/notif`;
    const faulty = await openRaw(`${url}/events`, { ...ANN, "x-fault": "1" });
    const healthy = await openRaw(`${url}/events`, ANN);
    await faulty.event(0);
    await healthy.event(0);
    for (const s of [faulty, healthy]) {
      const res = await fetch(`${url}/listen`, {
        method: "POST",
        headers: { "content-type": "application/json", ...ANN },
        body: JSON.stringify({ session: s.session(), notifier: "chat", key: "k" }),
      });
      expect(res.status).to.equal(204);
    }
    await chat.notify("k", "boom");
    await faulty.ended();
    await healthy.event(1);
    expect(errors.map((e) => e.error.message)).to.deep.equal(["injected write fault"]);
    expect(errors[0]?.context).to.include({ during: "stream write" });
    expect(hub.stats()).to.include({ sessions: 2, streams: 1 });
    await hub.close();
  });
});
