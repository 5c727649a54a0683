import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect } from "chai";
import { createComputed, createRoot, createSignal } from "solid-js";
import type { NotifStatus } from "../../client/index.js";
import { createNotifSignal, createNotifState, createNotifStatus } from "../../client/solid.js";
import { defineNotifier } from "../../protocol/contract.js";
import { client, closeAll, startServer, until } from "../helpers.js";

const chat = defineNotifier<{ room: string }, string>("chat");

const roots: (() => void)[] = [];

/** Runs `make` in a root; returns its result and the root's dispose. */
function inRoot<T>(make: () => T): { value: T; dispose: () => void } {
  return createRoot((dispose) => {
    roots.push(dispose);
    return { value: make(), dispose };
  });
}

/** Disposes the roots, then closes servers and clients. */
async function cleanUp(): Promise<void> {
  for (const dispose of roots.splice(0)) dispose();
  await closeAll();
}

describe("createNotifSignal", () => {
  afterEach(cleanUp);

  it("listens when created and updates on every notification of its key", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const c = client(url);
    const { value: last } = inRoot(() => createNotifSignal(c, chat, { room: "a" }));
    expect(last()).to.equal(undefined);
    await until(() => n.listeners({ room: "a" }) === 1, 3_000, "the listen");
    await n.notify({ room: "b" }, "elsewhere");
    await n.notify({ room: "a" }, "hello");
    await until(() => last() === "hello", 3_000, "the notification");
  });

  it("fires for a notification equal to the last one", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const c = client(url);
    const seen: unknown[] = [];
    inRoot(() => {
      const last = createNotifSignal(c, chat, { room: "a" });
      createComputed(() => seen.push(last()));
    });
    await until(() => n.listeners({ room: "a" }) === 1);
    await n.notify({ room: "a" }, "same");
    await n.notify({ room: "a" }, "same");
    await until(() => seen.length === 3, 3_000, "both notifications");
    expect(seen).to.deep.equal([undefined, "same", "same"]);
  });

  it("starts from `initial`", async () => {
    const { url, hub } = await startServer();
    hub.notifier(chat);
    const c = client(url);
    const { value } = inRoot(() => createNotifSignal(c, chat, { room: "a" }, { initial: "none" }));
    expect(value()).to.equal("none");
  });

  it("shares one server listen between signals on one key", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const c = client(url);
    const { value } = inRoot(() => [
      createNotifSignal(c, chat, { room: "a" }),
      createNotifSignal(c, chat, () => ({ room: "a" })),
    ]);
    await until(() => hub.stats().listens === 1, 3_000, "one listen");
    await n.notify({ room: "a" }, "both");
    await until(() => value.every((signal) => signal() === "both"), 3_000, "both signals");
    expect(hub.stats().listens).to.equal(1);
  });

  it("unlistens when its owner is disposed", async () => {
    const { url, hub } = await startServer();
    hub.notifier(chat);
    const c = client(url);
    const { dispose } = inRoot(() => [
      createNotifSignal(c, chat, { room: "a" }),
      createNotifSignal(c, chat, { room: "a" }),
      createNotifSignal(c, chat, { room: "b" }),
    ]);
    await until(() => hub.stats().listens === 2, 3_000, "two listens");
    dispose();
    await until(() => hub.stats().listens === 0, 3_000, "no listen left");
    expect(hub.stats().sessions).to.equal(1);
  });

  it("moves its listen when the key changes and goes back to `initial`", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const c = client(url);
    const [room, setRoom] = createSignal("a");
    const { value: last } = inRoot(() =>
      createNotifSignal(c, chat, () => ({ room: room() }), { initial: "-" }),
    );
    await until(() => n.listeners({ room: "a" }) === 1);
    await n.notify({ room: "a" }, "in a");
    await until(() => last() === "in a");
    setRoom("b");
    expect(last()).to.equal("-");
    await until(() => n.listeners({ room: "b" }) === 1 && n.listeners({ room: "a" }) === 0);
    expect(hub.stats().listens).to.equal(1);
    await n.notify({ room: "a" }, "old room");
    await n.notify({ room: "b" }, "in b");
    await until(() => last() === "in b");
  });

  it("keeps its listen when the key accessor returns an equal key", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const posts: string[] = [];
    const c = client(url, {
      fetch: (input, init) => {
        if (init?.method === "POST") posts.push(`${new URL(String(input)).pathname} ${init.body}`);
        return fetch(input, init);
      },
    });
    const [tick, setTick] = createSignal(0);
    const { value: last } = inRoot(() =>
      createNotifSignal(c, chat, () => (tick() >= 0 ? { room: "a" } : undefined)),
    );
    await until(() => n.listeners({ room: "a" }) === 1);
    await n.notify({ room: "a" }, "kept");
    await until(() => last() === "kept");
    setTick(1);
    expect(last()).to.equal("kept");
    // A marker: a listen made after the tick is sent after anything the tick sent.
    await c.listen(chat, { room: "marker" });
    expect(posts).to.have.length(2);
    expect(posts[0]).to.match(/^\/notif\/listen .*"key":\{"room":"a"\}/);
    expect(posts[1]).to.match(/^\/notif\/listen /);
    expect(posts[1]).to.include('"key":{"room":"marker"}');
    expect(posts[1]).not.to.include('"room":"a"');
  });

  it("listens on nothing while the key is undefined", async () => {
    const { url, hub } = await startServer();
    const n = hub.notifier(chat);
    const c = client(url);
    const [room, setRoom] = createSignal<string | undefined>(undefined);
    const { value: last } = inRoot(() =>
      createNotifSignal(c, chat, () => {
        const r = room();
        return r === undefined ? undefined : { room: r };
      }),
    );
    await until(() => c.state() === "open");
    // A marker: a listen made now is answered after anything the signal sent.
    await c.listen(chat, { room: "marker" });
    expect(hub.stats().listens).to.equal(1);
    await c.unlisten(chat, { room: "marker" });
    expect(hub.stats().listens).to.equal(0);
    setRoom("a");
    await until(() => n.listeners({ room: "a" }) === 1);
    await n.notify({ room: "a" }, "hi");
    await until(() => last() === "hi");
    setRoom(undefined);
    expect(last()).to.equal(undefined);
    await until(() => hub.stats().listens === 0, 3_000, "the unlisten");
  });

  it("reports a refused listen to onError instead of throwing", async () => {
    const { url, hub } = await startServer();
    hub.notifier(chat, { authorize: (_identity, key) => key.room !== "secret" });
    const c = client(url);
    const errors: [string, unknown][] = [];
    const { value } = inRoot(() =>
      createNotifSignal(
        c,
        chat,
        { room: "secret" },
        {
          initial: "locked",
          onError: (error, key) =>
            errors.push([(error as Error & { code?: string }).code ?? "", key]),
        },
      ),
    );
    await until(() => errors.length === 1, 3_000, "the error");
    expect(errors).to.deep.equal([["forbidden", { room: "secret" }]]);
    expect(value()).to.equal("locked");
    expect(hub.stats().listens).to.equal(0);
  });

  it("warns once when created outside a reactive owner", async () => {
    const { url, hub } = await startServer();
    hub.notifier(chat);
    const c = client(url);
    const warnings: unknown[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
    try {
      createNotifSignal(c, chat, { room: "a" });
      createNotifSignal(c, chat, { room: "b" });
      createNotifState(c);
    } finally {
      console.warn = warn;
    }
    expect(warnings).to.have.length(1);
    expect(String(warnings[0])).to.match(/outside a reactive owner.*never unlisten/);
    await until(() => hub.stats().listens === 2, 3_000, "the listens still made");
  });

  it("under SSR returns the initial value and makes no request", async () => {
    // A child process without `--conditions=browser` loads solid-js's server build (isServer).
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const script = `
      import { createRoot } from "solid-js";
      import { defineNotifier } from "./protocol/contract.ts";
      import { createNotifSignal, createNotifState, createNotifStatus } from "./client/solid.ts";
      const used = [];
      const client = new Proxy({}, { get: (_t, name) => { used.push(String(name)); return () => {}; } });
      const chat = defineNotifier("chat");
      const out = createRoot(() => ({
        value: createNotifSignal(client, chat, { room: "a" }, { initial: "ssr" })(),
        dynamic: createNotifSignal(client, chat, () => ({ room: "b" }))() ?? null,
        state: createNotifState(client)(),
        status: createNotifStatus(client)(),
      }));
      console.log(JSON.stringify({ ...out, used }));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      { cwd: root, env: { ...process.env, NODE_OPTIONS: "" } },
    );
    expect(JSON.parse(stdout)).to.deep.equal({
      value: "ssr",
      dynamic: null,
      state: "connecting",
      status: { state: "connecting", resumed: false, recovered: false, gap: false, lost: [] },
      used: [],
    });
  });
});

describe("createNotifState and createNotifStatus", () => {
  afterEach(cleanUp);

  it("follow the connection: connecting, open, then closed", async () => {
    const { url, hub } = await startServer();
    hub.notifier(chat);
    const c = client(url);
    const { value, dispose } = inRoot(() => ({
      state: createNotifState(c),
      status: createNotifStatus(c),
    }));
    expect(value.state()).to.equal("connecting");
    await until(() => value.state() === "open", 3_000, "open");
    expect(value.status()).to.deep.include({ state: "open", session: c.session() });
    c.close();
    expect(value.state()).to.equal("closed");
    expect(value.status().state).to.equal("closed");
    dispose();
  });

  it("tell a resume from a gap, so the app knows when to refetch", async () => {
    // Without history a lost session is a gap; with it the client recovers by position.
    const { url, hub, server } = await startServer({ retry: 20, history: false });
    hub.notifier(chat);
    const c = client(url);
    const seen: NotifStatus[] = [];
    const { value: status } = inRoot(() => createNotifStatus(c));
    c.onStatus(() => seen.push(status()));
    inRoot(() => createNotifSignal(c, chat, { room: "a" }));
    await until(() => hub.stats().listens === 1);
    server.closeAllConnections();
    await until(() => status().resumed, 3_000, "a resume");
    const first = c.session();
    await fetch(`${url}/close`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ session: first }),
    });
    await until(() => status().gap && c.session() !== first, 3_000, "a gap");
    expect(seen.map((s) => [s.state, s.resumed, s.gap])).to.deep.include.members([
      ["connecting", false, false],
      ["open", true, false],
      ["open", false, true],
    ]);
  });
});
