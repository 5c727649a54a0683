/**
 * A key's position (SPEC §6) as the wire carries it: the canonical string
 * `<epoch>-<offset>`, the offset growing by one per notify on that key
 * within an epoch. The server makes them; a client compares two positions
 * of one key (a tab sharing a stream drops a notification it had, and waits
 * for the ones a replay brings before it). Pure.
 */

/** A parsed position. */
export interface Position {
  /** Lower-case letters and digits, 1 to 40 of them. */
  readonly epoch: string;
  /** Notifies on the key in this epoch up to this one (0: none yet). */
  readonly offset: number;
}

const POSITION = /^([0-9a-z]{1,40})-(0|[1-9][0-9]{0,15})$/;

/** The canonical text of a position. */
export function formatPosition(position: Position): string {
  return `${position.epoch}-${position.offset}`;
}

/** Parses a position's text; `undefined` for anything that is not one (no leading zeros). */
export function parsePosition(text: unknown): Position | undefined {
  if (typeof text !== "string") return undefined;
  const match = POSITION.exec(text);
  if (!match) return undefined;
  const offset = Number(match[2]);
  if (!Number.isSafeInteger(offset)) return undefined;
  return { epoch: match[1] as string, offset };
}
