/**
 * History on Redis (SPEC §6): per key a capped stream of its notifications
 * and a small meta hash (epoch `e`, top offset `o`), both expiring `ttl` ms
 * after the key's latest notify. One Lua script appends to the stream, bumps
 * the meta and publishes the message with its position, so that position and
 * publish order are one; a second one reads. A key without meta (never
 * notified, expired, or Redis lost it) gets a new random epoch, so a position
 * from before a loss never matches again.
 *
 * Everything a key uses shares one hash slot ({@link redisNames}), and the
 * scripts run through a narrow {@link ScriptRunner}, so a cluster can route
 * each call to the node owning the key (and publish with SPUBLISH). Both
 * scripts first compare the key with what this node saw of it
 * (high-water.ts): a history gone backwards (a failover that lost writes)
 * gets a new epoch before anything else happens.
 */
import { createHash } from "node:crypto";
import type { BusHistoryRead } from "./bus.js";
import { NotifError } from "./errors.js";
import { HighWater } from "./high-water.js";
import type { HistoryLimits } from "./history.js";
import { EpochSource, type Position, parsePosition } from "./positions.js";
import { bounded, closedError } from "./redis-shared.js";
import { taggedName } from "./slots.js";

/** The Redis names of one hub channel. */
export interface RedisNames {
  /** Its pub/sub channel. */
  readonly channel: string;
  /** The stream of its history. */
  readonly stream: string;
  /** Its history's meta hash (epoch, top offset). */
  readonly meta: string;
}

/**
 * The Redis names of a hub channel: its pub/sub channel `<prefix>{<channel>}`,
 * its stream `…:h` and meta `…:m` after the same hash tag (slots.ts), so that
 * all three live in one cluster slot. The one place these names are made.
 */
export function redisNames(prefix: string, channel: string): RedisNames {
  return {
    channel: taggedName(prefix, channel),
    stream: taggedName(prefix, channel, ":h"),
    meta: taggedName(prefix, channel, ":m"),
  };
}

/** Runs a script where its keys live (a plain client; on a cluster, the node owning the slot). */
export interface ScriptRunner {
  evalSha(sha: string, keys: string[], args: string[]): Promise<unknown>;
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
}

/**
 * Lua: did this key lose notifies this node saw? ARGV[n..n+3]: the epoch,
 * offset and entry digest this node knows ('' for none), and '1' when it
 * caught that epoch going backwards live. Yes when the key is still in that
 * epoch and its top is below the offset, or the entry kept at that offset
 * is another one.
 */
const lostWrites = (n: number) => `
local function lostWrites(epoch)
  if ARGV[${n}] == '' or epoch ~= ARGV[${n}] then return false end
  if ARGV[${n + 3}] == '1' then return true end
  local top = tonumber(redis.call('HGET', KEYS[2], 'o'))
  local seen = tonumber(ARGV[${n + 1}])
  if top < seen then return true end
  if ARGV[${n + 2}] == '' then return false end
  local at = redis.call('XRANGE', KEYS[1], seen .. '-0', seen .. '-0')
  return #at == 1 and redis.sha1hex(at[1][2][2]) ~= ARGV[${n + 2}]
end
`;

/**
 * KEYS: stream, meta. ARGV: message, candidate epoch, size, ttl, publish
 * command, channel, then what this node saw (lostWrites).
 */
export const APPEND_SCRIPT = `${lostWrites(7)}
local epoch = redis.call('HGET', KEYS[2], 'e')
local top
if not epoch or lostWrites(epoch) then
  epoch = ARGV[2]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch, 'o', 1)
  top = 1
else
  top = redis.call('HINCRBY', KEYS[2], 'o', 1)
end
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], top .. '-0', 'm', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local pos = epoch .. '-' .. top
redis.call(ARGV[5], ARGV[6], '{"pos":"' .. pos .. '",' .. string.sub(ARGV[1], 2))
return pos
`;

/**
 * KEYS: stream, meta. ARGV: candidate epoch, ttl, after's epoch ('' for
 * none), after's offset, count, then what this node saw (lostWrites).
 */
export const READ_SCRIPT = `${lostWrites(6)}
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch or lostWrites(epoch) then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch, 'o', 0)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return {epoch, 0, {}}
end
local top = tonumber(redis.call('HGET', KEYS[2], 'o'))
if ARGV[3] == '' then return {epoch, top, {}} end
local from = 0
if ARGV[3] == epoch then from = tonumber(ARGV[4]) end
if from >= top then return {epoch, top, {}} end
return {epoch, top, redis.call('XRANGE', KEYS[1], (from + 1) .. '-0', '+', 'COUNT', ARGV[5])}
`;

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");
const APPEND_SHA = sha1(APPEND_SCRIPT);
const READ_SHA = sha1(READ_SCRIPT);

/** Runs a script by its SHA, loading it with EVAL when Redis does not know it (restarted, flushed). */
async function run(
  runner: ScriptRunner,
  [script, sha]: readonly [string, string],
  keys: string[],
  args: string[],
): Promise<unknown> {
  try {
    return await runner.evalSha(sha, keys, args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return runner.eval(script, keys, args);
  }
}

/** A key's history on Redis, through one runner. */
export class RedisHistory {
  readonly #runner: ScriptRunner;
  readonly #prefix: string;
  readonly #limits: HistoryLimits;
  readonly #publish: "PUBLISH" | "SPUBLISH";
  readonly #epochs = new EpochSource();
  readonly #seen = new HighWater();

  constructor(
    runner: ScriptRunner,
    prefix: string,
    limits: HistoryLimits,
    publish: "PUBLISH" | "SPUBLISH" = "PUBLISH",
  ) {
    this.#runner = runner;
    this.#prefix = prefix;
    this.#limits = limits;
    this.#publish = publish;
  }

  /** Appends and publishes (see `Bus.append`); resolves to the position. */
  async append(channel: string, message: string): Promise<Position> {
    if (!message.startsWith("{") || message === "{}")
      throw new TypeError("a message with history must be a non-empty JSON object");
    const names = redisNames(this.#prefix, channel);
    const { size, ttl } = this.#limits;
    const args = [message, this.#epochs.next(), String(size), String(ttl), this.#publish];
    const reply = await run(
      this.#runner,
      [APPEND_SCRIPT, APPEND_SHA],
      [names.stream, names.meta],
      [...args, names.channel, ...this.#seen.args(channel)],
    );
    const position = parsePosition(reply);
    if (!position) throw new TypeError(`the history script answered ${JSON.stringify(reply)}`);
    this.#seen.saw(channel, position, message);
    return position;
  }

  /** Reads (see `Bus.read`). */
  async read(channel: string, after?: Position): Promise<BusHistoryRead> {
    const names = redisNames(this.#prefix, channel);
    const { size, ttl } = this.#limits;
    const args = [
      this.#epochs.next(),
      String(ttl),
      after?.epoch ?? "",
      String(after?.offset ?? 0),
      String(size),
    ];
    const reply = await run(
      this.#runner,
      [READ_SCRIPT, READ_SHA],
      [names.stream, names.meta],
      [...args, ...this.#seen.args(channel)],
    );
    const read = parseRead(reply);
    const last = read.entries.at(-1);
    const stored = last?.offset === read.top ? last.message : undefined;
    this.#seen.saw(channel, { epoch: read.epoch, offset: read.top }, stored);
    return read;
  }

  /**
   * A message that came in on `channel`: false when its history was caught
   * going backwards (high-water.ts): not to be delivered; the hub is to check
   * the channel, whose next read starts a new epoch.
   */
  live(channel: string, message: string): boolean {
    return this.#seen.live(channel, message);
  }
}

/** What a bus's history call checks first: closed, started with history, connected. */
export interface HistoryGate {
  readonly closed: boolean;
  readonly history: RedisHistory | undefined;
  readonly ready: boolean;
  readonly timeout: number;
}

/** A history call of a Redis bus: refused at once when it cannot work, bounded, errors wrapped. */
export async function historyCall<T>(
  gate: HistoryGate,
  what: string,
  channel: string,
  call: (history: RedisHistory) => Promise<T>,
): Promise<T> {
  if (gate.closed) throw closedError();
  const { history } = gate;
  if (!history) throw new NotifError("unavailable", "this Redis bus was started without history");
  if (!gate.ready) {
    throw new NotifError("unavailable", `Redis is unreachable: no history ${what} on ${channel}`);
  }
  try {
    return await bounded(call(history), gate.timeout, `the history ${what}`);
  } catch (error) {
    throw new NotifError("unavailable", `Redis history ${what} on ${channel} failed`, {
      cause: error,
    });
  }
}

/** `[epoch, top, [[id, [field, value, …]], …]]` checked into a read. */
function parseRead(reply: unknown): BusHistoryRead {
  if (!Array.isArray(reply) || reply.length !== 3) throw badReply(reply);
  const [epoch, top, rows] = reply as [unknown, unknown, unknown];
  if (typeof epoch !== "string" || typeof top !== "number" || !Array.isArray(rows))
    throw badReply(reply);
  const entries = rows.map((row: unknown) => {
    const [id, fields] = Array.isArray(row) ? row : [];
    const offset = typeof id === "string" ? Number(id.slice(0, id.indexOf("-"))) : Number.NaN;
    const message = Array.isArray(fields) ? fields[1] : undefined;
    if (!Number.isSafeInteger(offset) || typeof message !== "string") throw badReply(row);
    return { offset, message };
  });
  return { epoch, top, entries };
}

function badReply(reply: unknown): TypeError {
  return new TypeError(`the history script answered ${JSON.stringify(reply).slice(0, 200)}`);
}
