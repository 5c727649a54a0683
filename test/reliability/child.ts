/** Starts test/reliability/fixtures/server.ts in its own process (with --expose-gc). */
import { type ChildProcess, fork } from "node:child_process";
import { request } from "./sse.js";

export interface Child {
  readonly process: ChildProcess;
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  /** Where the hub's router is mounted. */
  readonly url: string;
  getJson<T>(path: string): Promise<T>;
  postJson<T>(path: string, body: unknown): Promise<T>;
  kill(): void;
}

export interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  peak: number;
  gc: boolean;
}

export function startChild(hubOptions: object): Promise<Child> {
  const child = fork(new URL("./fixtures/server.ts", import.meta.url), {
    execArgv: ["--import", "tsx", "--expose-gc"],
    env: { ...process.env, HUB_OPTIONS: JSON.stringify(hubOptions) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the server process exited (${code})`)));
    child.once("message", (message) => {
      const origin = `http://127.0.0.1:${(message as { port: number }).port}`;
      resolve({
        process: child,
        origin,
        url: `${origin}/notif`,
        async getJson<T>(path: string) {
          const answer = await request(`${origin}${path}`, { method: "GET" });
          return JSON.parse(answer.text) as T;
        },
        async postJson<T>(path: string, body: unknown) {
          const answer = await request(`${origin}${path}`, {
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          return JSON.parse(answer.text) as T;
        },
        kill: () => {
          child.removeAllListeners("exit");
          child.kill("SIGKILL");
        },
      });
    });
  });
}
