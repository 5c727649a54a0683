/**
 * Redis Cluster hash slots, as the server computes them (CRC16/XMODEM of the
 * key, or of its hash tag, modulo 16384). Pure: used to batch sharded
 * subscriptions per slot and to name a key's channel and history so that
 * they share one slot.
 */

/** Number of hash slots in a Redis Cluster. */
export const SLOTS = 16_384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte += 1) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit += 1) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    table[byte] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0);
  return crc;
}

/**
 * The part of `name` Redis hashes: between the first `{` and the first `}`
 * after it when that is not empty, else the whole name.
 */
export function hashTag(name: Uint8Array): Uint8Array {
  const open = name.indexOf(0x7b);
  if (open < 0) return name;
  const close = name.indexOf(0x7d, open + 1);
  if (close < 0 || close === open + 1) return name;
  return name.subarray(open + 1, close);
}

/** The hash slot of a key or sharded channel name (UTF-8). */
export function slotOf(name: string): number {
  return crc16(hashTag(Buffer.from(name, "utf8"))) % SLOTS;
}

/**
 * Names a channel (or a key) so that everything named from one channel shares
 * its slot: `prefix{channel}`, then `suffix`. Redis hashes from the first `{`
 * to the first `}` after it, which is the same span for every name made from
 * one channel, whatever braces the channel holds.
 */
export function taggedName(prefix: string, channel: string, suffix = ""): string {
  if (channel === "" || channel.startsWith("}")) {
    throw new TypeError(`sse-notif: channel ${JSON.stringify(channel)} cannot be a hash tag`);
  }
  return `${prefix}{${channel}}${suffix}`;
}
