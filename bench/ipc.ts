// Typed request/response over the Node IPC channel between the orchestrator and
// its children, so that control traffic never touches the HTTP path under test.
import type { ChildProcess } from "node:child_process";

/** An API: for each call name, its request and its result. */
export type Api = Record<string, { req: unknown; res: unknown }>;

type Handlers<A extends Api> = { [K in keyof A]: (req: A[K]["req"]) => Promise<A[K]["res"]> };

type Message =
  | { kind: "call"; id: number; name: string; req: unknown }
  | { kind: "result"; id: number; res: unknown }
  | { kind: "error"; id: number; message: string };

function isMessage(value: unknown): value is Message {
  return typeof value === "object" && value !== null && "kind" in value && "id" in value;
}

/** Child side: answers the parent's calls; exits when the parent goes away. */
export function serveParent<A extends Api>(handlers: Handlers<A>): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error("bench: this script is started by bench/run.ts, not directly");
  process.on("disconnect", () => process.exit(0));
  process.on("message", (message: unknown) => {
    if (!isMessage(message) || message.kind !== "call") return;
    const { id, name } = message;
    const handler = handlers[name as keyof A];
    Promise.resolve()
      .then(() => handler(message.req as A[keyof A]["req"]))
      .then(
        (res) => send({ kind: "result", id, res }),
        (error: unknown) => send({ kind: "error", id, message: String(error) }),
      );
  });
}

/** Parent side: a typed caller for one child; every call has a time bound. */
export interface Remote<A extends Api> {
  call<K extends keyof A & string>(
    name: K,
    req: A[K]["req"],
    timeoutMs?: number,
  ): Promise<A[K]["res"]>;
}

export function remote<A extends Api>(child: ChildProcess, label: string): Remote<A> {
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const failAll = (why: string) => {
    for (const p of pending.values()) p.reject(new Error(`${label}: ${why}`));
    pending.clear();
  };
  child.on("exit", (code, signal) => failAll(`exited (code ${code}, signal ${signal})`));
  child.on("message", (message: unknown) => {
    if (!isMessage(message) || message.kind === "call") return;
    const p = pending.get(message.id);
    pending.delete(message.id);
    if (message.kind === "result") p?.resolve(message.res);
    else p?.reject(new Error(`${label}: ${message.message}`));
  });
  return {
    call(name, req, timeoutMs = 60_000) {
      const id = next++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${label}: ${name} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        const done = () => clearTimeout(timer);
        pending.set(id, {
          resolve: (v) => {
            done();
            resolve(v as never);
          },
          reject: (e) => {
            done();
            reject(e);
          },
        });
        child.send({ kind: "call", id, name, req }, (error) => {
          if (error) pending.get(id)?.reject(error);
        });
      });
    },
  };
}
