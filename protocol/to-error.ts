/** `toError`: anything thrown, as an `Error`, for the error callbacks of both sides. */

/** Turns anything thrown into an `Error` (for error callbacks). */
export function toError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}
