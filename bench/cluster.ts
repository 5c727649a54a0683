/**
 * Issue 13's numbers: notifies/s and cross-node latency on a three-master
 * Redis Cluster (sharded pub/sub) against one Redis, and what each Redis node
 * handles per notify, history on (the default: one script call per notify,
 * on the key's shard). Both backends are throwaway `redis-server`s on free
 * ports, started here. Node A (this process) notifies; node B (a child
 * process) holds one stream listening to every key.
 *
 *   npm run bench:cluster          (needs redis-server and redis-cli)
 *   COUNT=20000 KEYS=64 WINDOW=200 npm run bench:cluster
 */
import { fork } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { defineNotifier } from "../protocol/contract.js";
import { createHub } from "../server/index.js";
import { type RedisBusOptions, redisBus } from "../server/redis.js";
import { freePort, RedisProcess } from "../test/bus/helpers.js";
import { ClusterNode, LocalCluster } from "../test/cluster/local-cluster.js";

const COUNT = Number(process.env.COUNT ?? 20_000);
const KEYS = Number(process.env.KEYS ?? 64);
const WINDOW = Number(process.env.WINDOW ?? 200);
const PACED = Number(process.env.PACED ?? 2_000);
const bench = defineNotifier<string, { t: number }>("bench");

if (process.argv[2] === "node-b") {
  const options = JSON.parse(process.env.BUS ?? "{}") as RedisBusOptions;
  const hub = createHub({ bus: redisBus(options), maxKeysPerSession: 2 * KEYS, onError: () => {} });
  hub.notifier(bench);
  const app = express();
  app.use("/notif", hub.router());
  const server = http.createServer(app).listen(0, "127.0.0.1", () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
  process.on("disconnect", () => process.exit(0));
} else {
  await main();
}

interface Backend {
  readonly name: string;
  readonly bus: RedisBusOptions;
  /** Every Redis process of it, masters first. */
  nodes(): Promise<ClusterNode[]>;
  stop(): Promise<void>;
}

async function single(): Promise<Backend> {
  const redis = new RedisProcess(await freePort());
  await redis.start();
  const plain = new ClusterNode(redis.port, 0, ""); // read with redis-cli like a cluster node
  return {
    name: "one Redis",
    bus: { url: redis.url },
    nodes: async () => [plain],
    stop: () => redis.kill(),
  };
}

async function cluster(): Promise<Backend> {
  const local = new LocalCluster({ masters: 3 });
  await local.start();
  return {
    name: "3-master cluster",
    bus: { cluster: { rootNodes: local.rootNodes } },
    nodes: () => local.masters(),
    stop: () => local.stop(),
  };
}

async function main(): Promise<void> {
  console.log(
    `${COUNT} notifies over ${KEYS} keys (${WINDOW} in flight), ${PACED} paced on one key, history on`,
  );
  for (const make of [single, cluster]) {
    const backend = await make();
    try {
      await measure(backend);
    } finally {
      await backend.stop();
    }
  }
}

async function measure(backend: Backend): Promise<void> {
  const prefix = `bench:${Date.now().toString(36)}:`;
  const bus = { ...backend.bus, prefix };
  const child = fork(new URL(import.meta.url), ["node-b"], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, BUS: JSON.stringify(bus) },
  });
  const port = await new Promise<number>((resolve) =>
    child.once("message", (m) => resolve((m as { port: number }).port)),
  );
  const b = `http://127.0.0.1:${port}/notif`;
  const hub = createHub({ bus: redisBus(bus), onError: () => {} });
  const a = hub.notifier(bench);
  const stream = await openStream(`${b}/events`);
  const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`);
  await post(`${b}/listen`, {
    session: stream.session,
    items: ["hot", ...keys].map((key) => ({ notifier: "bench", key })),
  });

  const latencies: number[] = [];
  stream.onEvent = (data) => latencies.push(performance.timeOrigin + performance.now() - data.t);
  for (let i = 0; i < PACED; i += 1) {
    await a.notify("hot", { t: performance.timeOrigin + performance.now() });
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await until(() => latencies.length >= PACED);
  latencies.sort((x, y) => x - y);
  const pick = (q: number) => (latencies[Math.floor(q * (latencies.length - 1))] ?? 0).toFixed(2);

  let received = 0;
  stream.onEvent = () => {
    received += 1;
  };
  const nodes = await backend.nodes();
  const before = await Promise.all(nodes.map(counters));
  const began = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < COUNT) {
      const i = next++;
      await a.notify(keys[i % KEYS]!, { t: 0 });
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  const accepted = performance.now() - began;
  await until(() => received >= COUNT, 120_000);
  const delivered = performance.now() - began;
  const after = await Promise.all(nodes.map(counters));

  console.log(`\n${backend.name}:`);
  console.log(`  cross-node latency, ${PACED} paced: p50 ${pick(0.5)} ms  p99 ${pick(0.99)} ms`);
  console.log(
    `  throughput: ${rate(COUNT, accepted)} notifies/s accepted on A, ${rate(COUNT, delivered)} notifies/s delivered on B`,
  );
  nodes.forEach((node, i) => {
    const [was, is] = [before[i]!, after[i]!];
    const per = (field: keyof Counters) => ((is[field] - was[field]) / COUNT).toFixed(3);
    console.log(
      `  node :${node.port}: ${per("commands")} commands, ${per("publishes")} (S)PUBLISH or script calls, ${per("clusterPublish")} cluster-bus publish messages per notify`,
    );
  });
  stream.close();
  await hub.close();
  child.kill();
}

interface Counters {
  commands: number;
  publishes: number;
  clusterPublish: number;
}

async function counters(node: ClusterNode): Promise<Counters> {
  const stats = await node.info("INFO", "stats");
  const commands = await node.info("INFO", "commandstats");
  const calls = (name: string) =>
    Number(/calls=(\d+)/.exec(commands.get(`cmdstat_${name}`) ?? "")?.[1] ?? 0);
  const cluster = await node.info("CLUSTER", "INFO").catch(() => new Map<string, string>());
  const clusterPublish = ["publish", "publishshard"].reduce(
    (sum, kind) => sum + Number(cluster.get(`cluster_stats_messages_${kind}_received`) ?? 0),
    0,
  );
  return {
    commands: Number(stats.get("total_commands_processed") ?? 0),
    publishes: calls("publish") + calls("spublish") + calls("evalsha") + calls("eval"),
    clusterPublish,
  };
}

function rate(count: number, ms: number): string {
  return Math.round((count / ms) * 1_000).toLocaleString("en-US");
}

async function post(url: string, body: object): Promise<void> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 204 && res.status !== 200) {
    throw new Error(`${url}: ${res.status} ${await res.text()}`);
  }
}

async function until(check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Stream {
  session: string;
  onEvent: (data: { t: number }) => void;
  close(): void;
}

function openStream(url: string): Promise<Stream> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.setEncoding("utf8");
      let buffer = "";
      const stream: Stream = { session: "", onEvent: () => {}, close: () => req.destroy() };
      res.on("data", (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!data) continue;
          const parsed = JSON.parse(data);
          if (block.includes("event: session")) {
            stream.session = parsed.session;
            resolve(stream);
          } else stream.onEvent(parsed.data);
        }
      });
    });
  });
}
