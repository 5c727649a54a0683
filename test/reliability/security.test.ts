/**
 * Security (issue 6): a session belongs to the identity that opened it;
 * cross-site form posts are refused; nothing a key, a value or a prepared
 * value holds can inject SSE fields; session ids are unguessable; /stats
 * shows no session id or identity and can be turned off.
 */
import { expect } from "chai";
import fc from "fast-check";
import { defineNotifier } from "../../protocol/contract.js";
import { createHub, type Hub } from "../../server/index.js";
import { closeAll, startServer } from "../helpers.js";
import { dispatch, fakeRequest } from "./fake.js";
import { sortedJson } from "./model.js";
import { openSse, request, type SseConn, SseParser, waitFor } from "./sse.js";

const JSON_TYPE = "application/json";

/** A JSON identity as a header value: JSON with every non-ASCII character escaped. */
function identityHeader(identity: unknown): string {
  return JSON.stringify(identity).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

async function open(url: string, headers: Record<string, string> = {}) {
  const conn = await openSse(`${url}/events`, { headers });
  await waitFor(() => conn.events.length > 0, 3_000, "the session event");
  const data = JSON.parse(conn.events[0]?.data ?? "") as { session: string; status: string };
  return { conn, ...data };
}

function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  return request(`${url}${path}`, {
    headers: { "content-type": JSON_TYPE, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("reliability: security", function () {
  this.timeout(60_000);
  afterEach(closeAll);

  it("a session cannot be used or resumed by another identity (JSON identities, canonical equality)", async () => {
    const { url, hub } = await startServer<unknown>({
      identify: (req) => JSON.parse(String(req.headers["x-identity"] ?? "null")) as unknown,
      sessionTimeout: 60_000,
    });
    const chat = hub.notifier(defineNotifier<string, string>("chat"));
    const identity = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom<unknown>(null, "null", 0, "0", false, "", [], {}, [null], { a: 1, b: 2 }),
      fc.constantFrom<unknown>({ b: 2, a: 1 }, "ann", "Ann", "ann ", ["ann"], { id: "ann" }),
    );
    let tried = 0;
    await fc.assert(
      fc.asyncProperty(identity, identity, async (owner, other) => {
        const same = sortedJson(owner) === sortedJson(other);
        const asOwner = { "x-identity": identityHeader(owner) };
        const asOther = { "x-identity": identityHeader(other) };
        const key = `k${tried++}`;
        const mine = await open(url, asOwner);
        const session = mine.session;
        expect(
          (await post(url, "/listen", { session, notifier: "chat", key }, asOwner)).status,
        ).to.equal(204);
        for (const path of ["/listen", "/unlisten", "/close"]) {
          if (same) continue; // the same identity may, of course
          const answer = await post(url, path, { session, notifier: "chat", key }, asOther);
          expect(answer.status, `${path} by ${JSON.stringify(other)}`).to.equal(403);
          expect(answer.code).to.equal("forbidden");
          const named = identityHeader(owner).slice(1, -1);
          // Short texts (" ", "a") occur in any message: only longer ones can be told apart.
          if (named.trim().length >= 4) {
            expect(answer.text, "the answer names no identity").to.not.include(named);
          }
        }
        if (!same) {
          const other1 = await open(url, { ...asOther, "last-event-id": `${session}:0` });
          expect(other1.status, "resume by another identity").to.equal("new");
          expect(other1.session).to.not.equal(session);
          other1.conn.drop();
        }
        expect(mine.conn.ended, "the owner's stream is untouched").to.equal(false);
        await chat.notify(key, "for the owner");
        await waitFor(() => mine.conn.events.length === 2, 3_000, "the owner's notification");
        mine.conn.drop();
        const back = await open(url, { ...asOwner, "last-event-id": `${session}:1` });
        expect(back.status, "the owner still resumes").to.equal("resumed");
        expect((await post(url, "/close", { session }, asOwner)).status).to.equal(204);
        back.conn.drop();
      }),
      { numRuns: 150 },
    );
    await waitFor(() => hub.stats().sessions === 0 || hub.stats().streams === 0, 3_000);
  });

  it("refuses cross-site form posts (text/plain, urlencoded, multipart) with 415 and changes nothing", async () => {
    const { url, hub } = await startServer();
    const chat = hub.notifier(defineNotifier<string, string>("chat"));
    const { session, conn } = await open(url);
    expect(
      (await post(url, "/listen", { session, notifier: "chat", key: "kept" })).status,
    ).to.equal(204);
    const json = (path: string) =>
      JSON.stringify(path === "/close" ? { session } : { session, notifier: "chat", key: "x" });
    const bodies: [string, (path: string) => string][] = [
      ["text/plain", json],
      ["text/plain;charset=UTF-8", json],
      ["TEXT/PLAIN", json],
      ["application/x-www-form-urlencoded", (path) => `${encodeURIComponent(json(path))}=`],
      ["application/x-www-form-urlencoded", () => `session=${session}&notifier=chat&key=x`],
      [
        "multipart/form-data; boundary=b",
        (path) =>
          `--b\r\nContent-Disposition: form-data; name="${json(path)}"\r\n\r\n\r\n--b--\r\n`,
      ],
      ["text/plain", (path) => `${json(path).slice(0, -1)},"pad=":"="}`], // the enctype=text/plain trick
    ];
    for (const path of ["/listen", "/unlisten", "/close"]) {
      for (const [type, body] of bodies) {
        const answer = await post(url, path, body(path), { "content-type": type });
        expect(answer.status, `${path} as ${type}`).to.equal(415);
        expect(answer.code).to.equal("unsupported_media_type");
      }
    }
    expect(hub.stats().sessions).to.equal(1);
    expect(chat.listeners("kept")).to.equal(1);
    expect(chat.listeners("x")).to.equal(0);
    expect(conn.ended).to.equal(false);
  });

  it("no key, value or prepared value can inject SSE fields: the raw stream parses to exactly the events sent", async () => {
    const { url, hub } = await startServer();
    const evil = "\r\n\r\ndata: injected\nevent: session\nid: x:999\rretry: 1\u2028\u2029\0\ufeff";
    const plain = hub.notifier(defineNotifier<unknown, unknown>("plain"));
    const prep = hub.notifier(defineNotifier<unknown, unknown>("prep.v-1_x"), {
      prepare: (_identity, value: unknown) => ({ value, evil }),
    });
    const conn = await openSse(`${url}/events`, { keepText: true });
    await waitFor(() => conn.events.length > 0, 3_000, "the session event");
    const { session } = JSON.parse(conn.events[0]?.data ?? "") as { session: string };
    const nasty = fc.string({
      unit: fc.constantFrom(
        "\n",
        "\r",
        "\r\n",
        "data:",
        "event:",
        "id:",
        "retry:",
        ":",
        " ",
        "\u2028",
        "\u2029",
        "\0",
        "\ud800",
        "\udc00",
        "\ufeff",
        "a",
        "é",
        '"',
        "\\",
        "}",
      ),
      maxLength: 24,
    });
    const json = fc.oneof(
      nasty,
      fc.jsonValue({ maxDepth: 2 }),
      fc.dictionary(nasty, nasty, { maxKeys: 3 }),
    );
    const expected: { event: string; data: unknown }[] = [];
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        json,
        fc.array(json, { minLength: 1, maxLength: 4 }),
        async (key, values) => {
          round += 1;
          const keyed = { round, key }; // a fresh key each round
          for (const notifier of ["plain", "prep.v-1_x"]) {
            expect((await post(url, "/listen", { session, notifier, key: keyed })).status).to.equal(
              204,
            );
          }
          for (const [i, value] of values.entries()) {
            const pos = `@-${i + 1}`; // the key's epoch, then one offset per notify (SPEC §6)
            await plain.notify(keyed, value);
            // As JSON carries them (-0 arrives as 0).
            expected.push({ event: "plain", data: asJson({ key: keyed, data: value, pos }) });
            await prep.notify(keyed, value);
            expected.push({
              event: "prep.v-1_x",
              data: asJson({ key: keyed, data: { value, evil }, pos }),
            });
          }
          await waitFor(() => conn.events.length === expected.length + 1, 3_000, "the events");
        },
      ),
      { numRuns: 150 },
    );
    await new Promise((resolve) => setTimeout(resolve, 20)); // nothing more may come
    checkRaw(conn, session, expected);
  });

  it("refuses notifier names that could be SSE fields", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (name) => {
        let made = false;
        try {
          defineNotifier(name);
          made = true;
        } catch {}
        expect(made).to.equal(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(name) && name !== "session");
      }),
      { numRuns: 2_000 },
    );
    for (const name of [
      "chat\nevent: x",
      "chat\r",
      "data",
      "a:b",
      "session",
      " chat",
      "chat\u2028",
    ]) {
      const ok = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(name) && name !== "session";
      expect(() => defineNotifier(name), JSON.stringify(name)).to[ok ? "not" : "to"].throw();
    }
  });

  it("session ids are unguessable: 10,000 distinct, ≥ 128 random bits of base64url, characters uniform", async () => {
    const hub = createHub({ onError: () => {} });
    const router = hub.router();
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i += 1) {
      const res = await dispatch(router, fakeRequest("GET", "/events"));
      ids.push((JSON.parse(res.events[0]?.data ?? "") as { session: string }).session);
      res.drop();
    }
    await hub.close();
    expect(new Set(ids).size, "all distinct").to.equal(ids.length);
    const node = ids[0]?.split(".")[0] as string;
    const randoms = ids.map((id) => {
      const [prefix, random, ...rest] = id.split(".");
      expect(prefix).to.equal(node);
      expect(rest).to.deep.equal([]);
      return random as string;
    });
    const length = randoms[0]?.length ?? 0;
    expect(length * 6, "random bits").to.be.at.least(128);
    for (const random of randoms) {
      expect(random).to.match(/^[A-Za-z0-9_-]+$/);
      expect(random.length).to.equal(length);
    }
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const chi = (counts: Map<string, number>, n: number) => {
      const e = n / 64;
      let sum = 0;
      for (const c of alphabet) sum += ((counts.get(c) ?? 0) - e) ** 2 / e;
      return sum;
    };
    // all characters together: 63 degrees of freedom, mean 63, sd 11.2; 140 is p < 1e-8
    const all = new Map<string, number>();
    for (const random of randoms) for (const c of random) all.set(c, (all.get(c) ?? 0) + 1);
    expect(chi(all, randoms.length * length), "χ² over all characters").to.be.below(140);
    // each position on its own (base64url of whole bytes: every position is uniform)
    for (let p = 0; p < length; p += 1) {
      const at = new Map<string, number>();
      for (const random of randoms)
        at.set(random[p] as string, (at.get(random[p] as string) ?? 0) + 1);
      expect(chi(at, randoms.length), `χ² at position ${p}`).to.be.below(150);
    }
    // another hub has another node id
    const other = createHub({ onError: () => {} });
    const res = await dispatch(other.router(), fakeRequest("GET", "/events"));
    const otherId = (JSON.parse(res.events[0]?.data ?? "") as { session: string }).session;
    expect(otherId.split(".")[0]).to.not.equal(node);
    await other.close();
  });

  it("/stats shows no session id, node id, identity or key, and is a 404 with stats: false", async () => {
    const secret = `who-${Math.random().toString(36).slice(2)}`;
    const check = async (hub: Hub<string | null>, url: string) => {
      hub.notifier(defineNotifier<string, string>("chat"));
      const { session } = await open(url, { "x-user": secret });
      await post(
        url,
        "/listen",
        { session, notifier: "chat", key: `key-${secret}` },
        { "x-user": secret },
      );
      return session;
    };
    const on = await startServer<string | null>();
    const session = await check(on.hub, on.url);
    const answer = await request(`${on.url}/stats`, { method: "GET" });
    expect(answer.status).to.equal(200);
    const stats = JSON.parse(answer.text) as Record<string, unknown>;
    expect(Object.keys(stats).sort()).to.deep.equal(
      ["bus", "dropped", "keys", "listens", "sent", "sessions", "streams"].sort(),
    );
    for (const [name, value] of Object.entries(stats)) {
      expect(typeof value, name).to.equal(name === "bus" ? "string" : "number");
    }
    for (const leak of [
      session,
      session.split(".")[0] as string,
      session.split(".")[1] as string,
      secret,
    ]) {
      expect(answer.text).to.not.include(leak);
    }
    const off = await startServer<string | null>({ stats: false });
    await check(off.hub, off.url);
    const none = await request(`${off.url}/stats`, { method: "GET" });
    expect(none.status).to.equal(404);
    expect(none.code).to.equal("not_found");
    expect(none.text).to.not.include(secret);
    expect(off.hub.stats().sessions, "hub.stats() still works").to.equal(1);
  });
});

/**
 * Checks the raw text with no parser's leniency (no CR or NUL anywhere,
 * every line a known field of the expected shape), then parses it again
 * strictly, cut in random places, and expects exactly the expected events.
 */
function checkRaw(conn: SseConn, session: string, expected: { event: string; data: unknown }[]) {
  const raw = conn.text;
  expect(raw.includes("\r"), "no CR").to.equal(false);
  expect(raw.includes("\0"), "no NUL").to.equal(false);
  const line =
    /^(retry: \d+|id: [A-Za-z0-9_.-]+:\d+|event: [A-Za-z][A-Za-z0-9_.-]*|data: [^\n]*|)$/;
  for (const text of raw.split("\n")) expect(text, "a known field").to.match(line);
  for (let cut = 0; cut < 5; cut += 1) {
    const events: { id: string; event: string; data: string }[] = [];
    const parser = new SseParser((event) => events.push(event));
    for (let at = 0; at < raw.length; ) {
      const size = 1 + Math.floor(Math.random() * 64);
      parser.push(raw.slice(at, at + size));
      at += size;
    }
    parser.end();
    const epochs = new Map<string, string>();
    /** The data with its pos's epoch checked (one per key) and written "@". */
    const withoutEpoch = (event: string, data: string) => {
      const parsed = JSON.parse(data) as { key: unknown; pos?: string };
      const match = /^([0-9a-z]{1,40})-([1-9][0-9]*)$/.exec(parsed.pos ?? "");
      if (!match) return parsed;
      const key = `${event} ${JSON.stringify(parsed.key)}`;
      expect(match[1], `the epoch of ${key}`).to.equal(epochs.get(key) ?? match[1]);
      epochs.set(key, match[1] as string);
      return { ...parsed, pos: `@-${match[2]}` };
    };
    expect(events.length).to.equal(expected.length + 1);
    expect(events[0]?.event).to.equal("session");
    expect(events[0]?.id).to.equal(`${session}:0`);
    events.slice(1).forEach((event, i) => {
      const want = expected[i] as { event: string; data: unknown };
      expect(event.id, "ids count up").to.equal(`${session}:${i + 1}`);
      expect(event.event).to.equal(want.event);
      expect(withoutEpoch(event.event, event.data), `event ${i + 1}`).to.deep.equal(want.data);
    });
  }
}

/** A value as it comes out of JSON. */
function asJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}
