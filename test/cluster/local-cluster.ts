/**
 * A throwaway Redis Cluster for tests: `redis-server --cluster-enabled yes`
 * processes (cluster-node.ts) on free ports (client and cluster-bus ports
 * both chosen free), in a scratch directory, joined with `redis-cli --cluster
 * create`. One per test file: starting one takes about a second.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, until } from "../bus/helpers.js";
import { ClusterNode } from "./cluster-node.js";

export { ClusterNode } from "./cluster-node.js";

const run = promisify(execFile);

export interface ClusterShape {
  /** Masters; default 3 (the least `redis-cli --cluster create` accepts). */
  masters?: number;
  /** Replicas per master; default 0. */
  replicas?: number;
}

/** A local cluster: `start()` it in `before`, `stop()` it in `after`. */
export class LocalCluster {
  readonly nodes: ClusterNode[] = [];
  readonly #shape: Required<ClusterShape>;
  #dir = "";

  constructor(shape: ClusterShape = {}) {
    this.#shape = { masters: shape.masters ?? 3, replicas: shape.replicas ?? 0 };
  }

  /** The URLs to give `rootNodes`. */
  get rootNodes(): { url: string }[] {
    return this.nodes.map((node) => ({ url: node.url }));
  }

  /** Chooses the ports (and so the `rootNodes`) without starting anything yet. */
  async reserve(): Promise<void> {
    if (this.nodes.length > 0) return;
    this.#dir = await mkdtemp(path.join(tmpdir(), "sse-notif-cluster-"));
    const count = this.#shape.masters * (1 + this.#shape.replicas);
    const ports = new Set<number>();
    while (ports.size < count * 2) ports.add(await freePort());
    const list = [...ports];
    for (let i = 0; i < count; i += 1) {
      this.nodes.push(new ClusterNode(list[2 * i]!, list[2 * i + 1]!, this.#dir));
    }
  }

  async start(): Promise<void> {
    await this.reserve();
    await Promise.all(this.nodes.map((node) => node.start()));
    await run("redis-cli", [
      "--cluster",
      "create",
      ...this.nodes.map((node) => node.address),
      "--cluster-replicas",
      String(this.#shape.replicas),
      "--cluster-yes",
    ]);
    await this.settled();
  }

  /** Waits until every running node says `cluster_state:ok` and all agree on who owns what. */
  async settled(ms = 20_000): Promise<void> {
    await until(
      async () => {
        const running = this.nodes.filter((node) => node.running);
        const states = await Promise.all(
          running.map((node) => node.info("CLUSTER", "INFO").catch(() => new Map())),
        );
        if (!states.every((state) => state.get("cluster_state") === "ok")) return false;
        const views = await Promise.all(running.map((node) => this.#slotView(node)));
        return views.every((view) => view === views[0]);
      },
      ms,
      "cluster_state:ok on every node",
    );
  }

  /** A node's view of slot ownership: each live master's address and slot ranges, as text. */
  async #slotView(node: ClusterNode): Promise<string> {
    const lines = (await node.cli("CLUSTER", "NODES").catch(() => "")).split("\n");
    const masters = lines
      .map((line) => line.split(" "))
      .filter((fields) => /\bmaster\b/.test(fields[2] ?? "") && !/fail/.test(fields[2] ?? ""))
      .map((fields) => {
        const ranges = fields.slice(8).filter((range) => !range.startsWith("["));
        return `${fields[1]?.split("@")[0]} ${ranges.join(",")}`;
      });
    return masters.sort().join("\n");
  }

  /** The masters now running, in port order. */
  async masters(): Promise<ClusterNode[]> {
    const running = this.nodes.filter((node) => node.running);
    const roles = await Promise.all(running.map((node) => node.role()));
    return running.filter((_, i) => roles[i] === "master");
  }

  /** The node (running) that owns `slot` as master. */
  async ownerOf(slot: number): Promise<ClusterNode> {
    for (const node of await this.masters()) if (await this.#owns(node, slot)) return node;
    throw new Error(`no running master owns slot ${slot}`);
  }

  async #owns(node: ClusterNode, slot: number): Promise<boolean> {
    return (await this.slotsOf(node)).some(([from, to]) => slot >= from && slot <= to);
  }

  /** The slot ranges a node says it owns (none for a replica). */
  async slotsOf(node: ClusterNode): Promise<[number, number][]> {
    const lines = (await node.cli("CLUSTER", "NODES")).split("\n");
    const mine = lines.find((line) => line.includes("myself"));
    if (!mine) return [];
    return mine
      .split(" ")
      .slice(8)
      .filter((range) => !range.startsWith("["))
      .map((range) => {
        const [from, to = from] = range.split("-").map(Number) as [number, number?];
        return [from, to];
      });
  }

  /** The running replica of a master. */
  async replicaOf(master: ClusterNode): Promise<ClusterNode> {
    for (const node of this.nodes.filter((n) => n.running && n !== master)) {
      const info = await node.info("INFO", "replication");
      if (info.get("role") === "slave" && info.get("master_port") === String(master.port)) {
        return node;
      }
    }
    throw new Error(`no replica of ${master.port}`);
  }

  /**
   * Waits until `master`'s replica is in sync: its link up, both at one
   * replication offset, `WAIT 1` answered 1, and as many keys (a failover test's
   * precondition: a replica still resyncing after an earlier failover would
   * refuse a manual failover or lose writes).
   */
  async inSync(master: ClusterNode, ms = 20_000): Promise<ClusterNode> {
    const replica = await this.replicaOf(master);
    await until(
      async () => {
        const [ours, theirs] = await Promise.all([
          master.info("INFO", "replication"),
          replica.info("INFO", "replication"),
        ]);
        if (theirs.get("master_link_status") !== "up") return false;
        if (ours.get("master_repl_offset") !== theirs.get("slave_repl_offset")) return false;
        if ((await master.cli("WAIT", "1", "1000")) !== "1") return false;
        // the same keys too: one offset says the stream is in step, not that the snapshot was right
        return (await master.cli("DBSIZE")) === (await replica.cli("DBSIZE"));
      },
      ms,
      `replica ${replica.port} in sync with ${master.port}`,
    );
    return replica;
  }

  /** The slot of a key or channel, as Redis computes it. */
  async slotOf(name: string): Promise<number> {
    return Number(await this.nodes.find((node) => node.running)!.cli("CLUSTER", "KEYSLOT", name));
  }

  /**
   * Moves `slot` (and its keys) from its owner to `target`, by hand, the way
   * `redis-cli --cluster reshard` does: SETSLOT IMPORTING/MIGRATING, MIGRATE
   * every key, then SETSLOT NODE on both sides and on every other master.
   * `oneKeyAtATime` migrates each key with its own MIGRATE (as a reshard's
   * batches may split a slot's keys): meanwhile a command on several of them
   * gets TRYAGAIN.
   */
  async moveSlot(slot: number, target: ClusterNode, { oneKeyAtATime = false } = {}): Promise<void> {
    const source = await this.ownerOf(slot);
    if (source === target) return;
    const [sourceId, targetId] = await Promise.all([source.id(), target.id()]);
    const s = String(slot);
    await target.cli("CLUSTER", "SETSLOT", s, "IMPORTING", sourceId);
    await source.cli("CLUSTER", "SETSLOT", s, "MIGRATING", targetId);
    for (;;) {
      const keys = (await source.cli("CLUSTER", "GETKEYSINSLOT", s, "100")).split("\n");
      const names = keys.filter((key) => key.length > 0);
      if (names.length === 0) break;
      const to = ["127.0.0.1", String(target.port), "", "0", "5000", "KEYS"];
      if (!oneKeyAtATime) await source.cli("MIGRATE", ...to, ...names);
      else for (const name of names) await source.cli("MIGRATE", ...to, name);
    }
    await target.cli("CLUSTER", "SETSLOT", s, "NODE", targetId);
    await source.cli("CLUSTER", "SETSLOT", s, "NODE", targetId);
    for (const other of await this.masters()) {
      if (other !== source && other !== target) {
        await other.cli("CLUSTER", "SETSLOT", s, "NODE", targetId);
      }
    }
    await this.settled();
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
  }
}

/** Is `redis-server` there, with cluster support? */
async function haveRedisServer(): Promise<boolean> {
  try {
    await run("redis-server", ["--version"]);
    await run("redis-cli", ["--version"]);
    return true;
  } catch {
    return false;
  }
}

/**
 * A `before` hook that starts `cluster` (running `beforeStart` once its
 * ports are known): skips the suite, loudly, when redis-server is missing;
 * fails instead when `CI` is set.
 */
export function requireCluster(cluster: LocalCluster, beforeStart?: () => Promise<void>) {
  return async function (this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    if (!(await haveRedisServer())) {
      if (process.env.CI) throw new Error("redis-server/redis-cli not found (CI is set)");
      console.warn("\n  !!! SKIPPING Redis Cluster tests: redis-server or redis-cli missing !!!\n");
      this.skip();
    }
    await cluster.reserve();
    await beforeStart?.();
    await cluster.start();
  };
}
