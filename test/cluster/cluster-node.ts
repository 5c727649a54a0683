/**
 * One redis-server of a test cluster (local-cluster.ts): started with cluster
 * mode on, in the cluster's scratch directory, with its own config and RDB
 * files; killed, paused and resumed on purpose; asked through redis-cli.
 */
import { type ChildProcess, execFile } from "node:child_process";
import { promisify } from "node:util";
import { killChild, spawnRedis } from "../bus/helpers.js";

const run = promisify(execFile);

/** One redis-server of the cluster. */
export class ClusterNode {
  readonly port: number;
  readonly busPort: number;
  readonly dir: string;
  #child: ChildProcess | undefined;

  constructor(port: number, busPort: number, dir: string) {
    this.port = port;
    this.busPort = busPort;
    this.dir = dir;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `redis://${this.address}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the process (again, with the node id and config it had) and waits for PING. */
  async start(): Promise<void> {
    const args = [
      ...["--port", String(this.port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"],
      ...[
        "--cluster-port",
        String(this.busPort),
        "--cluster-config-file",
        `nodes-${this.port}.conf`,
      ],
      ...["--cluster-node-timeout", "1000", "--dir", this.dir, "--save", "", "--appendonly", "no"],
      // its own RDB file: a replica renames the snapshot its master sent to `dbfilename`, then
      // loads that file; with one name in one dir, replicas syncing in the same instant (they all
      // do, repl-diskless-sync-delay after the cluster forms) loaded another shard's snapshot
      ...["--dbfilename", `dump-${this.port}.rdb`],
      ...["--cluster-replica-validity-factor", "0", "--daemonize", "no"],
    ];
    const { child, ready } = spawnRedis(this.port, args, `redis-server ${this.port}`);
    this.#child = child;
    await ready;
  }

  /** SIGKILL: no goodbye to clients or to the other nodes. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    await killChild(child);
  }

  /** SIGSTOP: the process holds everything (its replication link too) until {@link resume}. */
  pause(): void {
    this.#child?.kill("SIGSTOP");
  }

  resume(): void {
    this.#child?.kill("SIGCONT");
  }

  /** Runs one redis-cli command on this node and returns its output, trimmed. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await run("redis-cli", ["-p", String(this.port), ...args]);
    return stdout.trim();
  }

  /** `INFO`-style `field:value` lines of `CLUSTER INFO` or `INFO section`. */
  async info(...args: string[]): Promise<Map<string, string>> {
    const text = await this.cli(...args);
    const fields = new Map<string, string>();
    for (const line of text.split(/\r?\n/)) {
      const at = line.indexOf(":");
      if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1).trim());
    }
    return fields;
  }

  async id(): Promise<string> {
    return this.cli("CLUSTER", "MYID");
  }

  /** `master` or `slave`, as this node says. */
  async role(): Promise<string> {
    return (await this.info("INFO", "replication")).get("role") ?? "unknown";
  }
}
