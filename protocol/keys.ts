/**
 * Canonical JSON: the one text of a JSON value, object keys sorted, so that two
 * equal keys (or identities) give equal strings whatever their key order.
 *
 * @throws TypeError when `value` is not JSON (undefined, a function, a symbol,
 * a bigint, a non-finite number, a cycle, or an object that is not plain).
 * @example canonicalJson({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, seen: Set<object>): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`not JSON: the number ${value}`);
      return JSON.stringify(value);
    case "object":
      if (value === null) return "null";
      return writeObject(value, seen);
    default:
      throw new TypeError(`not JSON: a value of type ${typeof value}`);
  }
}

function writeObject(value: object, seen: Set<object>): string {
  if (seen.has(value)) throw new TypeError("not JSON: a cycle");
  seen.add(value);
  let text: string;
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (let i = 0; i < value.length; i += 1) {
      const item: unknown = value[i];
      items.push(item === undefined ? "null" : write(item, seen)); // holes too, as JSON.stringify does
    }
    text = `[${items.join(",")}]`;
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`not JSON: an instance of ${proto?.constructor?.name ?? "a class"}`);
    }
    const record = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const name of Object.keys(record).sort()) {
      const item = record[name];
      if (item === undefined) continue; // as JSON.stringify does
      parts.push(`${JSON.stringify(name)}:${write(item, seen)}`);
    }
    text = `{${parts.join(",")}}`;
  }
  seen.delete(value);
  return text;
}

/**
 * A topic: one `(notifier, key)` as both sides name it, `name:keyId`. Made
 * only by {@link topicOf}.
 */
export type Topic = string & { readonly __brand: "Topic" };

/**
 * The topic of a notifier's key. Notifier names hold no `:`, so the text is
 * unambiguous.
 *
 * @param keyId the key's id, `def.keyId(key)` (canonical JSON by default)
 * @example topicOf("chat", '"a"') // 'chat:"a"'
 */
export function topicOf(notifier: string, keyId: string): Topic {
  return `${notifier}:${keyId}` as Topic;
}

/**
 * Is `value`, as it arrived (a message between tabs, off the bus), a topic?
 * It has the shape {@link topicOf} gives, `name:keyId`; the one check that
 * brands a topic made elsewhere.
 *
 * @example isTopic('chat:"a"') // true; isTopic("chat") // false
 */
export function isTopic(value: unknown): value is Topic {
  return typeof value === "string" && value.includes(":");
}
