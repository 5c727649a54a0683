/**
 * The `client.on` handlers, per notifier name. A handler that throws is
 * reported and the others still run.
 */

type Handler = (key: unknown, value: unknown) => void;

export interface Handlers {
  /** Adds `handler` for `name`; returns the function that removes it. */
  add(name: string, handler: Handler): () => void;
  /** Calls every handler of `name`. */
  call(name: string, key: unknown, value: unknown): void;
}

export function makeHandlers(report: (error: unknown, name: string) => void): Handlers {
  const byName = new Map<string, Set<Handler>>();
  return {
    add(name, handler) {
      let set = byName.get(name);
      if (!set) {
        set = new Set();
        byName.set(name, set);
      }
      const own = set;
      const wrapped: Handler = (key, value) => handler(key, value); // one entry per call of `on`
      own.add(wrapped);
      return () => {
        own.delete(wrapped);
      };
    },
    call(name, key, value) {
      for (const handler of [...(byName.get(name) ?? [])]) {
        try {
          handler(key, value);
        } catch (error) {
          report(error, name);
        }
      }
    },
  };
}
