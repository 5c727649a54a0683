/**
 * `NotifError`, the one error class of the server, and the faults several
 * files answer alike (no such live session; a bus handler that throws).
 */
import { toError } from "../protocol/to-error.js";
import { ERROR_STATUS, type ErrorBody, type ErrorCode } from "../protocol/wire.js";

/**
 * The one error class of sse-notif: a `code` from the wire protocol's table,
 * a message that says what to do next, and the `cause` passed through.
 *
 * @example throw new NotifError("forbidden", "this session belongs to another identity");
 */
export class NotifError extends Error {
  override readonly name = "NotifError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** HTTP status of this error's code. */
  get status(): number {
    return ERROR_STATUS[this.code] ?? 500;
  }

  /** The JSON body of the error answer. */
  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

export { toError } from "../protocol/to-error.js";

/** The 410 of a request on a session no node holds (expired, closed, or its node is gone). */
export function unknownSession(): NotifError {
  return new NotifError(
    "unknown_session",
    "no such live session: open a new stream with GET /events",
  );
}

/**
 * Wraps a bus message handler so that nothing it throws escapes into the bus
 * (where it would be an uncaught exception): it goes to `onError`.
 */
export function guarded(
  handler: (message: string) => void,
  onError: (error: Error, context: object) => void,
): (message: string) => void {
  return (message) => {
    try {
      handler(message);
    } catch (error) {
      onError(toError(error), { during: "bus message", message: message.slice(0, 200) });
    }
  };
}
