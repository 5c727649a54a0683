/**
 * A client across the death of its node (SPEC §5.8, §6), with real
 * processes: two nodes on Redis (history on, the default) behind a TCP
 * proxy, a real client on node A. A is SIGKILLed while B goes on
 * notifying; once the proxy sends the client to B, it gets every missed
 * notification exactly once and in order, then the live ones, and reports
 * `recovered: true`, never a gap.
 */
import { expect } from "chai";
import type { NotifStatus } from "../../client/index.js";
import { defineNotifier } from "../../protocol/contract.js";
import { requireRedis } from "../bus/helpers.js";
import { killNodes, notifyOn, startNodeProcess } from "../fixtures/nodes.js";
import { TcpProxy } from "../fixtures/proxy.js";
import { client, closeAll, until } from "../helpers.js";

const chat = defineNotifier<string, string>("chat");
const KEYS = ["k0", "k1", "k2"];

describe("node death, real processes on Redis", function () {
  this.timeout(60_000);
  before(requireRedis);
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await closeAll();
    await proxy?.close();
    killNodes();
  });

  it("a client whose node is SIGKILLed gets, on the other node, every missed notification once and in order, then live ones: recovered", async () => {
    const prefix = `sse-notif-death:${Date.now().toString(36)}:`;
    const [a, b] = await Promise.all([startNodeProcess(prefix), startNodeProcess(prefix)]);
    proxy = await TcpProxy.start(a!.port);
    const c = client(`${proxy.origin}/notif`, { reconnect: { retry: 50 } });
    const got = new Map<string, string[]>(KEYS.map((key) => [key, []]));
    c.on(chat, (key, value) => got.get(key)?.push(value.split(" ")[0] as string));
    const statuses: NotifStatus[] = [];
    c.onStatus((status) => statuses.push(status));
    await Promise.all(KEYS.map((key) => c.listen(chat, key)));
    const sent = new Map<string, string[]>(KEYS.map((key) => [key, []]));
    const notify = async (n: number) => {
      for (let i = 0; i < n; i += 1) {
        for (const key of KEYS) {
          const value = `${key}.${sent.get(key)?.length}`;
          expect(await notifyOn(b!, key, value)).to.equal(true);
          sent.get(key)?.push(value);
        }
      }
    };
    const all = () => KEYS.every((key) => got.get(key)?.length === sent.get(key)?.length);
    await notify(3); // live, from the other node, before the death
    await until(all, 10_000, "the first notifications");
    const first = c.session();

    a!.process.kill("SIGKILL");
    await a!.exited;
    await notify(20); // 60 missed: the client's node is gone, the proxy still points at it
    proxy.point(b!.port);
    await until(
      () => c.session() !== first && statuses.at(-1)?.state === "open",
      15_000,
      "a new session on B",
    );
    await notify(5); // live on B
    await until(all, 15_000, "every notification");

    for (const key of KEYS) expect(got.get(key), key).to.deep.equal(sent.get(key));
    expect(statuses.some((s) => s.recovered)).to.equal(true);
    expect(statuses.filter((s) => s.gap || s.lost.length > 0)).to.deep.equal([]);
  });
});
