import { expect } from "chai";
import { defineNotifier } from "../../protocol/contract.js";
import { requireRedis } from "../bus/helpers.js";
import { killNodes, type NodeProcess, notifyOn, startNodeProcess } from "../fixtures/nodes.js";
import { client, closeAll, until } from "../helpers.js";

const chat = defineNotifier<string, string>("chat");
describe("many nodes in separate processes, on Redis", function () {
  this.timeout(30_000);
  before(requireRedis);
  afterEach(async () => {
    await closeAll();
    killNodes();
  });

  it("delivers across processes with listens on any node, prepare on the stream's node, notfor by request", async () => {
    const prefix = `sse-notif-mp:${Date.now().toString(36)}:`;
    const [a, b, c] = await Promise.all([
      startNodeProcess(prefix),
      startNodeProcess(prefix),
      startNodeProcess(prefix),
    ]);
    // The stream goes to node a; its POSTs go to node b: no sticky sessions.
    const ann = client(a!.url, {
      headers: { "x-user": "ann" },
      fetch: (input, init) =>
        fetch(String(input).replace(`${a!.url}/listen`, `${b!.url}/listen`), init),
    });
    const got: string[] = [];
    ann.on(chat, (_key, value) => got.push(value));
    await ann.listen(chat, "room");
    const bob = client(c!.url, { headers: { "x-user": "bob" } });
    const bobGot: string[] = [];
    bob.on(chat, (_key, value) => bobGot.push(value));
    await bob.listen(chat, "room");
    const notify = (from: NodeProcess, value: string, session?: string) =>
      notifyOn(from, "room", value, session);
    for (let i = 0; i < 20; i += 1) await notify([a, b, c][i % 3]!, `m${i}`);
    await notify(b!, "not for ann", ann.session());
    await until(() => got.length === 20 && bobGot.length === 21, 10_000, "every delivery");
    const aPid = a!.process.pid;
    expect(got.map((v) => v.split(" ")[0])).to.deep.equal(
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    expect(got.every((v) => v.endsWith(`(prepared by ${aPid} for ann)`))).to.equal(true);
    expect(bobGot.at(-1)).to.equal(`not for ann (prepared by ${c!.process.pid} for bob)`);
  });

  it("when a node process dies, its clients reconnect to another node, get new, listen again, and receive", async () => {
    const prefix = `sse-notif-mp:${Date.now().toString(36)}:kill:`;
    const [a, b] = await Promise.all([startNodeProcess(prefix), startNodeProcess(prefix)]);
    let target = a!.url;
    const c = client("http://node/notif", {
      fetch: (input, init) => fetch(String(input).replace("http://node/notif", target), init),
    });
    const got: string[] = [];
    c.on(chat, (_key, value) => got.push(value));
    await c.listen(chat, "room");
    const first = c.session();
    target = b!.url;
    a!.process.kill("SIGKILL");
    await until(() => c.session() !== undefined && c.session() !== first, 10_000, "a new session");
    await until(
      async () => {
        await notifyOn(b!, "room", "after");
        return got.some((v) => v.startsWith("after"));
      },
      10_000,
      "delivery from the surviving node",
    );
  });
});
